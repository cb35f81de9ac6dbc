file(REMOVE_RECURSE
  "CMakeFiles/loan_test.dir/loan_test.c.o"
  "CMakeFiles/loan_test.dir/loan_test.c.o.d"
  "loan_test"
  "loan_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/loan_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
