file(REMOVE_RECURSE
  "CMakeFiles/unbounded_test.dir/unbounded_test.c.o"
  "CMakeFiles/unbounded_test.dir/unbounded_test.c.o.d"
  "unbounded_test"
  "unbounded_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/unbounded_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
