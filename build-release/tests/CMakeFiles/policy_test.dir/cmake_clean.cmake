file(REMOVE_RECURSE
  "CMakeFiles/policy_test.dir/policy_test.c.o"
  "CMakeFiles/policy_test.dir/policy_test.c.o.d"
  "policy_test"
  "policy_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/policy_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
