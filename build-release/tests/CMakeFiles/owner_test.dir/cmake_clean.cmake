file(REMOVE_RECURSE
  "CMakeFiles/owner_test.dir/owner_test.c.o"
  "CMakeFiles/owner_test.dir/owner_test.c.o.d"
  "owner_test"
  "owner_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/owner_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
