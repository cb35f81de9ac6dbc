file(REMOVE_RECURSE
  "CMakeFiles/multiuser_test.dir/multiuser_test.c.o"
  "CMakeFiles/multiuser_test.dir/multiuser_test.c.o.d"
  "multiuser_test"
  "multiuser_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/multiuser_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
