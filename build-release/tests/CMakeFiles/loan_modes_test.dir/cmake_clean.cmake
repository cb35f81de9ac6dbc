file(REMOVE_RECURSE
  "CMakeFiles/loan_modes_test.dir/loan_modes_test.c.o"
  "CMakeFiles/loan_modes_test.dir/loan_modes_test.c.o.d"
  "loan_modes_test"
  "loan_modes_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/loan_modes_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
