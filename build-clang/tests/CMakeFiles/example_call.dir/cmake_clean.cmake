file(REMOVE_RECURSE
  "CMakeFiles/example_call.dir/__/examples/call.c.o"
  "CMakeFiles/example_call.dir/__/examples/call.c.o.d"
  "example_call"
  "example_call.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_call.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
