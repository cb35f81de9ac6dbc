file(REMOVE_RECURSE
  "CMakeFiles/example_owned.dir/__/examples/owned.c.o"
  "CMakeFiles/example_owned.dir/__/examples/owned.c.o.d"
  "example_owned"
  "example_owned.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_owned.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
