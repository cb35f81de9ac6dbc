file(REMOVE_RECURSE
  "CMakeFiles/shlock_test.dir/shlock_test.c.o"
  "CMakeFiles/shlock_test.dir/shlock_test.c.o.d"
  "shlock_test"
  "shlock_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/shlock_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
