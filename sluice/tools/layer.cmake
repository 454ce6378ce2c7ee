# The tools layer: the CLI's commands as a library that the tests also link
# (internal: static, not installed, not exported), and the `sluice` program, a
# tiny main() over it.
find_package(CLI11 CONFIG REQUIRED)
list(APPEND sluice_libs_tools CLI11::CLI11)

find_package(nlohmann_json 3 CONFIG REQUIRED)

function(sluice_tools_post)
  # sluice rpc: JSON parameters and output.
  target_link_libraries(sluice_tools PRIVATE nlohmann_json::nlohmann_json)
  add_executable(sluice_cli ${PROJECT_SOURCE_DIR}/sluice/tools/main/sluice.cpp)
  set_target_properties(sluice_cli PROPERTIES OUTPUT_NAME sluice)
  target_link_libraries(sluice_cli PRIVATE sluice_tools sluice_warnings sluice_sanitizers)
  install(TARGETS sluice_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
