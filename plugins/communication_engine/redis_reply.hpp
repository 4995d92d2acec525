// An owned copy of a hiredis reply, safe to hand to another thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct redisReply;

namespace hive::communication_engine {

struct RedisReply {
  enum class Type { kNil, kString, kStatus, kError, kInteger, kArray };

  Type type = Type::kNil;
  std::string text;  // string, status and error replies
  long long integer = 0;
  std::vector<RedisReply> elements;

  static RedisReply from(const redisReply& reply);
  bool isNil() const { return type == Type::kNil; }
  bool isError() const { return type == Type::kError; }
  bool isArray() const { return type == Type::kArray; }
};

}  // namespace hive::communication_engine
