file(REMOVE_RECURSE
  "CMakeFiles/policy_rr_test.dir/policy_rr_test.c.o"
  "CMakeFiles/policy_rr_test.dir/policy_rr_test.c.o.d"
  "policy_rr_test"
  "policy_rr_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/policy_rr_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
