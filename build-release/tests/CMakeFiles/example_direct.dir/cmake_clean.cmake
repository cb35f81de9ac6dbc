file(REMOVE_RECURSE
  "CMakeFiles/example_direct.dir/__/examples/direct.c.o"
  "CMakeFiles/example_direct.dir/__/examples/direct.c.o.d"
  "example_direct"
  "example_direct.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_direct.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
