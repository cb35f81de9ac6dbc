file(REMOVE_RECURSE
  "CMakeFiles/names_test.dir/names_test.c.o"
  "CMakeFiles/names_test.dir/names_test.c.o.d"
  "names_test"
  "names_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/names_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
