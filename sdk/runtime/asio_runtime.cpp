// The compiled Asio and Beast implementations, once for the whole process.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
