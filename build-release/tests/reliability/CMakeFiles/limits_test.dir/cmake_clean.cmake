file(REMOVE_RECURSE
  "CMakeFiles/limits_test.dir/limits_test.c.o"
  "CMakeFiles/limits_test.dir/limits_test.c.o.d"
  "limits_test"
  "limits_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/limits_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
