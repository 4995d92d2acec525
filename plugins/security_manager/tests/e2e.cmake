# Rate limits in the real hive (tests/e2e/security_limits_e2e.py --help): 429
# problem+json with Retry-After and RateLimit-* once a principal's read burst is
# spent, a separate write bucket, a role override, public routes never limited,
# and an address out of failed authentications refused before its key is checked.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/security_manager/CMakeLists.txt)
  add_test(NAME e2e_security_limits COMMAND /usr/bin/python3 ${_e2e_tests_dir}/security_limits_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_security_limits PROPERTIES LABELS "e2e;security" TIMEOUT 120 RUN_SERIAL TRUE)
endif()

# Audit durability (tests/e2e/security_audit_e2e.py --help): 40 state-changing
# requests answered, kill -9 at once; `hive audit verify` finds the chain intact
# and every answered request's entry is there after a restart.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/security_engine/CMakeLists.txt)
  add_test(NAME e2e_security_audit_kill COMMAND /usr/bin/python3 ${_e2e_tests_dir}/security_audit_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_security_audit_kill PROPERTIES LABELS "e2e;security" TIMEOUT 120 RUN_SERIAL TRUE)
endif()

# RS256 tokens from a JWKS file (tests/e2e/security_jwks_e2e.py --help; keys and
# signatures from the openssl CLI): the key by kid, 401 for a wrong or unknown
# kid and alg none, the file renamed over with a new key picked up within a few
# refresh intervals, a broken file keeping the previous keys.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/security_manager/CMakeLists.txt)
  add_test(NAME e2e_security_jwks COMMAND /usr/bin/python3 ${_e2e_tests_dir}/security_jwks_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_security_jwks PROPERTIES LABELS "e2e;security" TIMEOUT 120 RUN_SERIAL TRUE)
endif()

# Rate limits shared by two hives through Redis (tests/e2e/security_shared_limits_e2e.py
# --help): reads alternating between the nodes get one burst in all, not one
# each. Needs HIVE_TEST_REDIS_URL; exits 77 (skipped) without it.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/security_manager/CMakeLists.txt)
  add_test(NAME e2e_security_shared_limits COMMAND /usr/bin/python3 ${_e2e_tests_dir}/security_shared_limits_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_security_shared_limits PROPERTIES LABELS "e2e;security;redis" TIMEOUT 120 RUN_SERIAL TRUE
    SKIP_RETURN_CODE 77)
endif()
