file(REMOVE_RECURSE
  "CMakeFiles/example_unbounded.dir/__/examples/unbounded.c.o"
  "CMakeFiles/example_unbounded.dir/__/examples/unbounded.c.o.d"
  "example_unbounded"
  "example_unbounded.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_unbounded.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
