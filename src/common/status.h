// Status: the result of an operation that can fail, with a category that
// decides the exit code (see README "Exit codes") and a one-line message that
// says what and where. Categories follow leveldb's idea: corruption of the
// protocol is not an I/O error, a source problem is not a target problem.
// Thread-safety: a value type; copy freely.
#pragma once

#include <string>
#include <utility>

namespace sparsync {

enum class ErrorKind : int {
  kOk = 0,
  kUsage = 2,        // bad command line or option value
  kSource = 3,       // source missing, unreadable, shrinking, I/O error
  kTarget = 4,       // target refused, unwritable, full, I/O error
  kConnection = 5,   // transport failed: ssh connect, auth, host key, peer died
  kProtocol = 6,     // peer spoke garbage, or another protocol version
  kVerify = 7,       // end-to-end verification found a difference
  kInterrupted = 8,  // stopped by a signal; target resumable
  kCommand = 9,      // a job group's pre or post command failed (app/job_hook.h)
  kInternal = 1,     // a bug or an unexpected condition
};

const char* error_kind_name(ErrorKind kind);

class Status {
 public:
  Status() = default;
  Status(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return kind_ == ErrorKind::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is prefixed with `context: `.
  Status with_context(const std::string& context) const;

  // The peer reported this failure in an ERROR frame: it has already printed
  // it on its side, and must not be told it again.
  Status as_from_peer() const {
    Status s = *this;
    s.from_peer_ = true;
    return s;
  }
  bool from_peer() const { return from_peer_; }

  // The peer moved no byte for the idle timeout (--timeout). Such a message
  // already says what and with whom, so with_context() leaves it as it is,
  // and the client does not wait for a far side that may be hung.
  Status as_timeout() const {
    Status s = *this;
    s.timed_out_ = true;
    return s;
  }
  bool timed_out() const { return timed_out_; }

 private:
  ErrorKind kind_ = ErrorKind::kOk;
  std::string message_;
  bool from_peer_ = false;
  bool timed_out_ = false;
};

// Builds a status from errno text: "<what>: <strerror(err)>".
Status errno_status(ErrorKind kind, const std::string& what, int err);

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool is_ok() const { return status_.is_ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T&& take() { return std::move(value_); }

 private:
  Status status_;
  T value_{};
};

#define SPARSYNC_RETURN_IF_ERROR(expr)              \
  do {                                              \
    ::sparsync::Status status_once_ = (expr);       \
    if (!status_once_.is_ok()) return status_once_; \
  } while (0)

}  // namespace sparsync
