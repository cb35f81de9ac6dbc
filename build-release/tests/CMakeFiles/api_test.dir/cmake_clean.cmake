file(REMOVE_RECURSE
  "CMakeFiles/api_test.dir/api_test.c.o"
  "CMakeFiles/api_test.dir/api_test.c.o.d"
  "api_test"
  "api_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/api_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
