file(REMOVE_RECURSE
  "CMakeFiles/multiprocess_test.dir/multiprocess_test.c.o"
  "CMakeFiles/multiprocess_test.dir/multiprocess_test.c.o.d"
  "multiprocess_test"
  "multiprocess_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/multiprocess_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
