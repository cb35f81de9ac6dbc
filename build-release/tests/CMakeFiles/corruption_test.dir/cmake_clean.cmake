file(REMOVE_RECURSE
  "CMakeFiles/corruption_test.dir/corruption_test.c.o"
  "CMakeFiles/corruption_test.dir/corruption_test.c.o.d"
  "corruption_test"
  "corruption_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/corruption_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
