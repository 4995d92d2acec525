#include "openai_embedder.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace hive::context_manager {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

struct OpenAiEmbedder::Endpoint {
  bool secure = false;
  std::string host;
  std::string port;
  std::string target;
};

namespace {

struct Answer {
  unsigned status = 0;
  std::string body;
};

// Runs one asynchronous step to its end. The sync calls of beast::tcp_stream
// ignore its expiry: only asynchronous ones time out, so each step is
// started asynchronously and the context run until it finished.
template <class Start>
beast::error_code step(asio::io_context& io, Start start) {
  beast::error_code result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  io.restart();
  io.run();
  return result;
}

// One request on a fresh connection, bounded by the stream's expiry in all.
template <class Stream>
Status exchange(asio::io_context& io, Stream& stream, const http::request<http::string_body>& request,
                Answer& answer) {
  if (auto ec = step(io, [&](auto done) { http::async_write(stream, request, done); }))
    return unavailable("sending: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (auto ec = step(io, [&](auto done) { http::async_read(stream, buffer, parser, done); }))
    return unavailable("reading the answer: " + ec.message());
  answer.status = parser.get().result_int();
  answer.body = parser.get().body();
  return okStatus();
}

}  // namespace

OpenAiEmbedder::OpenAiEmbedder(EmbedderOptions options, KeySource keySource)
    : options_(std::move(options)),
      keySource_(std::move(keySource)),
      endpoint_(std::make_unique<Endpoint>()) {
  auto url = boost::urls::parse_uri(options_.url);
  if (url) {
    endpoint_->secure = url->scheme() == "https";
    endpoint_->host = std::string(url->host());
    endpoint_->port = url->has_port() ? std::string(url->port()) : (endpoint_->secure ? "443" : "80");
    endpoint_->target = std::string(url->encoded_path());
    if (endpoint_->target.empty()) endpoint_->target = "/";
    if (url->has_query()) endpoint_->target += "?" + std::string(url->encoded_query());
  }
}

OpenAiEmbedder::~OpenAiEmbedder() = default;

Result<std::vector<std::vector<float>>> OpenAiEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (std::size_t start = 0; start < texts.size(); start += options_.batch) {
    std::vector<std::string> batch(
        texts.begin() + static_cast<std::ptrdiff_t>(start),
        texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), start + options_.batch)));
    Status last = okStatus();
    bool done = false;
    for (int attempt = 0; attempt <= options_.retries && !done; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200) * (1 << (attempt - 1)));
      auto vectors = embedBatch(batch);
      if (vectors.ok()) {
        for (auto& vector : *vectors) out.push_back(std::move(vector));
        done = true;
      } else {
        last = vectors.status();
        if (last.code() != StatusCode::kUnavailable) return last;
      }
    }
    if (!done)
      return unavailable("embeddings endpoint " + endpoint_->host + ": " + last.message() + " (after " +
                         std::to_string(options_.retries + 1) + " attempts)");
  }
  return out;
}

Result<std::vector<std::vector<float>>> OpenAiEmbedder::embedBatch(const std::vector<std::string>& texts) {
  if (endpoint_->host.empty()) return invalidArgument("embedder url is not a URL");
  json::array input;
  for (const std::string& text : texts) input.emplace_back(text);
  http::request<http::string_body> request{http::verb::post, endpoint_->target, 11};
  request.set(http::field::host, endpoint_->host);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "hive-context-manager");
  std::string key = options_.apiKey;
  if (keySource_) {
    auto revealed = keySource_();
    // The status names the secret, never its value; not retried.
    if (!revealed.ok())
      return Status(StatusCode::kFailedPrecondition,
                    "the embedder's API key: " + revealed.status().message());
    key = std::move(revealed).value();
  }
  if (!key.empty()) request.set(http::field::authorization, "Bearer " + key);
  request.body() = json::serialize(json::object{{"model", options_.model}, {"input", std::move(input)}});
  request.prepare_payload();

  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto addresses = resolver.resolve(endpoint_->host, endpoint_->port, ec);
  if (ec) return unavailable("resolving " + endpoint_->host + ": " + ec.message());
  Answer answer;
  if (endpoint_->secure) {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_default_verify_paths();
    tls.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, tls);
    stream.set_verify_callback(asio::ssl::host_name_verification(endpoint_->host));
    if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint_->host.c_str()))
      return unavailable("cannot set the TLS server name");
    beast::get_lowest_layer(stream).expires_after(options_.timeout);
    if (auto failed =
            step(io, [&](auto done) { beast::get_lowest_layer(stream).async_connect(addresses, done); }))
      return unavailable("connecting to " + endpoint_->host + ": " + failed.message());
    if (auto failed =
            step(io, [&](auto done) { stream.async_handshake(asio::ssl::stream_base::client, done); }))
      return unavailable("TLS with " + endpoint_->host + ": " + failed.message());
    HIVE_TRY(exchange(io, stream, request, answer));
  } else {
    beast::tcp_stream stream(io);
    stream.expires_after(options_.timeout);
    if (auto failed = step(io, [&](auto done) { stream.async_connect(addresses, done); }))
      return unavailable("connecting to " + endpoint_->host + ": " + failed.message());
    HIVE_TRY(exchange(io, stream, request, answer));
  }
  std::string excerpt = answer.body.substr(0, 200);
  if (answer.status == 401 || answer.status == 403)
    return Status(StatusCode::kPermissionDenied,
                  "embeddings endpoint refused the key (" + std::to_string(answer.status) + ")");
  if (answer.status == 429 || answer.status >= 500)
    return unavailable("embeddings endpoint answered " + std::to_string(answer.status));
  if (answer.status != 200)
    return invalidArgument("embeddings endpoint answered " + std::to_string(answer.status) + ": " + excerpt);
  json::value parsed = json::parse(answer.body, ec);
  const json::value* data = !ec && parsed.is_object() ? parsed.get_object().if_contains("data") : nullptr;
  if (data == nullptr || !data->is_array() || data->get_array().size() != texts.size())
    return unavailable("embeddings endpoint answered without one vector per text");
  std::vector<std::vector<float>> out(texts.size());
  for (const json::value& item : data->get_array()) {
    const json::value* index = item.is_object() ? item.get_object().if_contains("index") : nullptr;
    const json::value* embedding = item.is_object() ? item.get_object().if_contains("embedding") : nullptr;
    if (index == nullptr || !index->is_int64() || index->get_int64() < 0 ||
        static_cast<std::size_t>(index->get_int64()) >= texts.size() || embedding == nullptr ||
        !embedding->is_array() || embedding->get_array().size() != options_.dimension)
      return unavailable("embeddings endpoint answered a vector of another dimension than " +
                         std::to_string(options_.dimension) + ", or without its index");
    std::vector<float>& vector = out[static_cast<std::size_t>(index->get_int64())];
    vector.reserve(options_.dimension);
    double norm = 0;
    for (const json::value& value : embedding->get_array()) {
      if (!value.is_number()) return unavailable("embeddings endpoint answered a value that is not a number");
      vector.push_back(static_cast<float>(value.to_number<double>()));
      norm += static_cast<double>(vector.back()) * vector.back();
    }
    if (norm > 0)
      for (float& value : vector) value = static_cast<float>(value / std::sqrt(norm));
  }
  for (const auto& vector : out)
    if (vector.empty()) return unavailable("embeddings endpoint answered the same index twice");
  return out;
}

}  // namespace hive::context_manager
