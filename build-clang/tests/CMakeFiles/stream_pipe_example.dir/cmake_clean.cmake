file(REMOVE_RECURSE
  "CMakeFiles/stream_pipe_example.dir/__/examples/stream_pipe.c.o"
  "CMakeFiles/stream_pipe_example.dir/__/examples/stream_pipe.c.o.d"
  "stream_pipe_example"
  "stream_pipe_example.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/stream_pipe_example.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
