file(REMOVE_RECURSE
  "CMakeFiles/prioq_test.dir/prioq_test.c.o"
  "CMakeFiles/prioq_test.dir/prioq_test.c.o.d"
  "prioq_test"
  "prioq_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/prioq_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
