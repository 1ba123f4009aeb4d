# Helpers shared by every module's CMakeLists.txt.

# wharf_test(NAME SOURCES... LIBS ...): one GoogleTest binary per module, discovered by ctest.
function(wharf_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  if(T_LABELS)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${T_LABELS}")
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# A target that compiles every header under src/ and include/ on its own, so that no header
# leans on what its includer happened to include first.
function(wharf_header_check)
  file(GLOB_RECURSE headers RELATIVE ${CMAKE_SOURCE_DIR}/src CONFIGURE_DEPENDS
       ${CMAKE_SOURCE_DIR}/src/*.h)
  file(GLOB_RECURSE public_headers RELATIVE ${CMAKE_SOURCE_DIR}/include CONFIGURE_DEPENDS
       ${CMAKE_SOURCE_DIR}/include/*.h)
  list(APPEND headers ${public_headers})
  set(sources)
  foreach(h ${headers})
    string(MAKE_C_IDENTIFIER ${h} id)
    set(out ${CMAKE_BINARY_DIR}/header_check/${id}.cc)
    file(CONFIGURE OUTPUT ${out} CONTENT "#include \"${h}\"\n")
    list(APPEND sources ${out})
  endforeach()
  add_library(wharf_header_check OBJECT EXCLUDE_FROM_ALL ${sources})
  target_include_directories(wharf_header_check PRIVATE ${CMAKE_SOURCE_DIR}/src
                             ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(wharf_header_check PRIVATE tl::expected fmt::fmt nlohmann_json::nlohmann_json)
endfunction()
