file(REMOVE_RECURSE
  "CMakeFiles/reboot_test.dir/reboot_test.c.o"
  "CMakeFiles/reboot_test.dir/reboot_test.c.o.d"
  "reboot_test"
  "reboot_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/reboot_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
