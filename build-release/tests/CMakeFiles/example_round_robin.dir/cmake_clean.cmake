file(REMOVE_RECURSE
  "CMakeFiles/example_round_robin.dir/__/examples/round_robin.c.o"
  "CMakeFiles/example_round_robin.dir/__/examples/round_robin.c.o.d"
  "example_round_robin"
  "example_round_robin.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_round_robin.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
