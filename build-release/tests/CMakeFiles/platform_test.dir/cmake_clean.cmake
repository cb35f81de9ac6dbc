file(REMOVE_RECURSE
  "CMakeFiles/platform_test.dir/platform_test.c.o"
  "CMakeFiles/platform_test.dir/platform_test.c.o.d"
  "platform_test"
  "platform_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/platform_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
