#include "tls.hpp"

#include <sys/stat.h>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>
// The process's Asio is compiled once, in the kernel's runtime, without its
// TLS part (the kernel does not link OpenSSL): the api plugin compiles that
// part here, for itself.
#include <boost/asio/ssl/impl/src.hpp>

namespace hive::api {
namespace ssl = boost::asio::ssl;
namespace {

// What changes when a file is replaced or rewritten: rotation tools rename a
// new file into place (inode) or write it again (size, mtime).
std::string fingerprintOf(const TlsSettings& settings) {
  std::string out;
  for (const std::string* path : {&settings.certFile, &settings.keyFile, &settings.clientCaFile}) {
    if (path->empty()) continue;
    struct stat info {};
    if (::stat(path->c_str(), &info) != 0) {
      out += "missing;";
      continue;
    }
    out += std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec) + ";";
  }
  return out;
}

Result<std::shared_ptr<ssl::context>> load(const TlsSettings& settings) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  // TLS 1.0 and 1.1 are refused at the handshake (RFC 8996), renegotiation
  // too (a client could make the server redo handshakes at will).
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                       ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_min_proto_version(native, settings.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, settings.ciphers.c_str()) != 1)
    return invalidArgument("ciphers: no usable TLS 1.2 cipher in '" + settings.ciphers + "'");
  boost::system::error_code error;
  context->use_certificate_chain_file(settings.certFile, error);
  if (error) return invalidArgument("cert_file " + settings.certFile + ": " + error.message());
  context->use_private_key_file(settings.keyFile, ssl::context::pem, error);
  if (error) return invalidArgument("key_file " + settings.keyFile + ": " + error.message());
  if (SSL_CTX_check_private_key(native) != 1)
    return invalidArgument("key_file " + settings.keyFile + " does not match the certificate in " +
                           settings.certFile);
  if (!settings.clientCaFile.empty()) {
    context->load_verify_file(settings.clientCaFile, error);
    if (error) return invalidArgument("client_ca_file " + settings.clientCaFile + ": " + error.message());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.clientCaFile.c_str());
    if (names == nullptr)
      return invalidArgument("client_ca_file " + settings.clientCaFile + ": no certificate in it");
    SSL_CTX_set_client_CA_list(native, names);
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Resumed sessions of verified clients need an id context, or OpenSSL
    // fails the resumption.
    static constexpr unsigned char kSessionContext[] = "hive.api";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return context;
}

}  // namespace

Result<std::unique_ptr<TlsContexts>> TlsContexts::create(const TlsSettings& settings, Logger& log) {
  std::unique_ptr<TlsContexts> contexts(new TlsContexts(settings, log));
  contexts->fingerprint_ = fingerprintOf(settings);
  contexts->context_ = HIVE_TRY(load(settings));
  contexts->nextLook_ = std::chrono::steady_clock::now() + settings.reloadInterval;
  return contexts;
}

TlsContexts::~TlsContexts() = default;

std::shared_ptr<ssl::context> TlsContexts::current() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (now < nextLook_) return context_;
  nextLook_ = now + settings_.reloadInterval;
  std::string fingerprint = fingerprintOf(settings_);
  if (fingerprint == fingerprint_ || fingerprint == failedFingerprint_) return context_;
  auto loaded = load(settings_);
  if (!loaded.ok()) {
    failedFingerprint_ = fingerprint;
    log_.error("api: TLS files changed but do not load; still serving the previous certificate: " +
               loaded.status().message());
    return context_;
  }
  context_ = std::move(loaded).value();
  fingerprint_ = std::move(fingerprint);
  failedFingerprint_.clear();
  log_.info("api: TLS certificate reloaded from " + settings_.certFile);
  return context_;
}

Status checkTls(const TlsSettings& settings) { return load(settings).status(); }

}  // namespace hive::api
