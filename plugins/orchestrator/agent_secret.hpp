// The reconnect secret of a remote agent: proof that a `hello` naming an
// existing agent_id comes from the agent that was given the id. Issued once (in
// `welcome` for an agent registered by hello, in the 201 of POST
// /api/v2/agents), shown never again; only its SHA-256 is stored.
#pragma once

#include <string>
#include <string_view>

namespace hive::orchestrator {

// 32 bytes from the kernel's CSPRNG (getrandom), as 64 lowercase hex digits.
std::string newAgentSecret();

// SHA-256 of `secret`, as 64 lowercase hex digits. A plain hash and not a slow
// password hash (bcrypt, argon2): the secret is 256 random bits, so there is
// nothing for a dictionary or a brute force to guess, and a fast check keeps
// a flood of hellos cheap.
std::string secretDigest(std::string_view secret);

// True when `secret` hashes to `storedDigest`, compared in constant time so the
// time a refusal takes says nothing about how much of the digest matched.
bool secretMatches(std::string_view secret, std::string_view storedDigest);

}  // namespace hive::orchestrator
