file(REMOVE_RECURSE
  "CMakeFiles/chaos.dir/chaos.c.o"
  "CMakeFiles/chaos.dir/chaos.c.o.d"
  "chaos"
  "chaos.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/chaos.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
