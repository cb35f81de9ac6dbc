file(REMOVE_RECURSE
  "CMakeFiles/self_test.dir/self_test.c.o"
  "CMakeFiles/self_test.dir/self_test.c.o.d"
  "self_test"
  "self_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/self_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
