file(REMOVE_RECURSE
  "CMakeFiles/full_fs_test.dir/full_fs_test.c.o"
  "CMakeFiles/full_fs_test.dir/full_fs_test.c.o.d"
  "full_fs_test"
  "full_fs_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/full_fs_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
