file(REMOVE_RECURSE
  "CMakeFiles/bad_input_test.dir/bad_input_test.c.o"
  "CMakeFiles/bad_input_test.dir/bad_input_test.c.o.d"
  "bad_input_test"
  "bad_input_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/bad_input_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
