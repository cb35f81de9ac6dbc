file(REMOVE_RECURSE
  "CMakeFiles/wait_test.dir/wait_test.c.o"
  "CMakeFiles/wait_test.dir/wait_test.c.o.d"
  "wait_test"
  "wait_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/wait_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
