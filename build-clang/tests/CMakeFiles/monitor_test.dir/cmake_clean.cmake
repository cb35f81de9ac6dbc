file(REMOVE_RECURSE
  "CMakeFiles/monitor_test.dir/monitor_test.c.o"
  "CMakeFiles/monitor_test.dir/monitor_test.c.o.d"
  "monitor_test"
  "monitor_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/monitor_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
