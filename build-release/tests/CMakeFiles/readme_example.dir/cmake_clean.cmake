file(REMOVE_RECURSE
  "CMakeFiles/readme_example.dir/__/examples/hello.c.o"
  "CMakeFiles/readme_example.dir/__/examples/hello.c.o.d"
  "readme_example"
  "readme_example.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/readme_example.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
