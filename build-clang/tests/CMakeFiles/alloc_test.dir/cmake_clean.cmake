file(REMOVE_RECURSE
  "CMakeFiles/alloc_test.dir/alloc_test.c.o"
  "CMakeFiles/alloc_test.dir/alloc_test.c.o.d"
  "alloc_test"
  "alloc_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/alloc_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
