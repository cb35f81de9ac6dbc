file(REMOVE_RECURSE
  "CMakeFiles/security_test.dir/security_test.c.o"
  "CMakeFiles/security_test.dir/security_test.c.o.d"
  "security_test"
  "security_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/security_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
