# Messages between agents in the real hive with agents on real WebSockets
# (plugins/communication_manager/tests/messages_e2e.py --help): delivery rules,
# dead letters, REST and limits on one node; hot swaps of the orchestrator and
# of communication_manager; no accepted message lost to a SIGKILL (Redis bus);
# two nodes on PostgreSQL + Redis. Seconds each.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/communication_manager/CMakeLists.txt)
  set(_messages_e2e ${CMAKE_CURRENT_LIST_DIR}/messages_e2e.py --hive $<TARGET_FILE:hive>
    --plugins ${CMAKE_BINARY_DIR}/plugins)
  add_test(NAME e2e_messages_delivery COMMAND /usr/bin/python3 ${_messages_e2e} --scenario delivery)
  add_test(NAME e2e_messages_crash COMMAND /usr/bin/python3 ${_messages_e2e} --scenario crash)
  add_test(NAME e2e_messages_nodes COMMAND /usr/bin/python3 ${_messages_e2e} --scenario nodes)
  add_test(NAME e2e_messages_swap COMMAND /usr/bin/python3 ${_messages_e2e} --scenario swap)
  set_tests_properties(e2e_messages_delivery e2e_messages_swap PROPERTIES LABELS "e2e" TIMEOUT 180 RUN_SERIAL TRUE)
  set_tests_properties(e2e_messages_crash PROPERTIES LABELS "e2e;redis" TIMEOUT 180 RUN_SERIAL TRUE)
  set_tests_properties(e2e_messages_nodes PROPERTIES LABELS "e2e;postgres;redis" TIMEOUT 180 RUN_SERIAL TRUE)
endif()
