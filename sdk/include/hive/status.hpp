// Status and Result<T>: expected failures are values, never exceptions.
//
// Codes are the canonical set used by gRPC and Abseil, so that a plugin author
// already knows what each one means. No exception may cross a plugin boundary:
// adapters around throwing libraries convert at their edge.
#pragma once

#include <cassert>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace hive {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

constexpr std::string_view statusCodeName(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "CANCELLED";
    case StatusCode::kUnknown: return "UNKNOWN";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kAborted: return "ABORTED";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kDataLoss: return "DATA_LOSS";
    case StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const noexcept { return code_ == StatusCode::kOk; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // "context: message" — how HIVE_TRY adds context as an error propagates.
  Status withContext(std::string_view context) const {
    if (ok() || context.empty()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

  // "NOT_FOUND: message"
  std::string toString() const {
    if (ok()) return "OK";
    return std::string(statusCodeName(code_)) + ": " + message_;
  }

  friend bool operator==(const Status& a, const Status& b) noexcept {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status okStatus() { return Status(); }
inline Status invalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status notFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status alreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status failedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status internalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status deadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status resourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }

// Either a value or a non-OK Status. Constructing a Result from an OK Status is a
// programming error (there is no value to hold); it is turned into kInternal.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, Status>, "use Status");

 public:
  Result(const T& value) : data_(value) {}        // NOLINT(google-explicit-constructor)
  Result(T&& value) : data_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status)                           // NOLINT(google-explicit-constructor)
      : data_(status.ok() ? Status(StatusCode::kInternal, "Result built from an OK status")
                          : std::move(status)) {}
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
           !std::is_same_v<std::remove_cvref_t<U>, Status> && !std::is_same_v<std::remove_cvref_t<U>, Result>)
      Result(U&& value)
      : data_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  Status status() const { return ok() ? Status() : std::get<1>(data_); }

  // Precondition: ok(). Checked in debug builds.
  T& value() & {
    assert(ok());
    return std::get<0>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(data_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <typename U>
  T valueOr(U&& fallback) const& {
    return ok() ? std::get<0>(data_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> data_;
};

namespace detail {
inline Status toStatus(const Status& s) { return s; }
template <typename T>
Status toStatus(const Result<T>& r) {
  return r.status();
}
template <typename T>
decltype(auto) takeValue(Result<T>&& r) {
  return std::move(r).value();
}
inline void takeValue(Status&&) {}
inline std::string_view tryContext() { return {}; }
inline std::string_view tryContext(std::string_view context) { return context; }
}  // namespace detail

}  // namespace hive

// HIVE_TRY(expr) / HIVE_TRY(expr, "context"): evaluates a Status or Result<T>;
// on error returns it from the enclosing function (with the context prepended),
// otherwise yields the Result's value. Usable as an expression:
//   auto file = HIVE_TRY(openFile(path), "reading plugin");
#define HIVE_TRY(expr, ...)                                      \
  __extension__({                                                \
    auto hive_try_result_ = (expr);                              \
    if (!hive_try_result_.ok())                                  \
      return ::hive::detail::toStatus(hive_try_result_)          \
          .withContext(::hive::detail::tryContext(__VA_ARGS__)); \
    ::hive::detail::takeValue(std::move(hive_try_result_));      \
  })
