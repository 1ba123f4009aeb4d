# Regenerates the Kafka codecs into WORK_DIR and diffs them against the committed
# src/kafka/protocol/generated. Run by the kafka_codegen_check target:
#   cmake -DPYTHON=... -DSOURCE_DIR=... -DWORK_DIR=... [-DSCHEMAS_DIR=...] -P check.cmake
# The schemas are looked for in SCHEMAS_DIR, then /work/shared/kafka-schemas, then
# SOURCE_DIR/../shared/kafka-schemas. Without them (or without python3) the check is skipped.
set(schemas "")
foreach(candidate "${SCHEMAS_DIR}" /work/shared/kafka-schemas "${SOURCE_DIR}/../shared/kafka-schemas")
  if(candidate AND EXISTS "${candidate}/ApiVersionsRequest.json")
    set(schemas "${candidate}")
    break()
  endif()
endforeach()
if(NOT schemas)
  message(STATUS "kafka_codegen_check: SKIPPED: Kafka's JSON schemas were not found (looked in "
                 "WHARF_KAFKA_SCHEMAS_DIR, /work/shared/kafka-schemas and ../shared/kafka-schemas)")
  return()
endif()
if(NOT PYTHON)
  message(STATUS "kafka_codegen_check: SKIPPED: no python3 interpreter")
  return()
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(
  COMMAND "${PYTHON}" "${SOURCE_DIR}/tools/kafka_codegen/generate.py" --schemas "${schemas}"
          --out "${WORK_DIR}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kafka_codegen_check: the generator failed (${rc})")
endif()
execute_process(
  COMMAND diff -ru "${SOURCE_DIR}/src/kafka/protocol/generated" "${WORK_DIR}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kafka_codegen_check: src/kafka/protocol/generated differs from a fresh "
                      "run of tools/kafka_codegen/generate.py on ${schemas}; regenerate and "
                      "commit (see src/kafka/protocol/README.md)")
endif()
message(STATUS "kafka_codegen_check: generated code matches ${schemas}")
