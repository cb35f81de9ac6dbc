file(REMOVE_RECURSE
  "CMakeFiles/repair_test.dir/repair_test.c.o"
  "CMakeFiles/repair_test.dir/repair_test.c.o.d"
  "repair_test"
  "repair_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/repair_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
