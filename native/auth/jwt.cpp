// JWT verification on OpenSSL 3 EVP (see jwt.hpp for the rules and why).
#include "jwt.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace topgun::auth {
namespace {

using json = nlohmann::json;

struct MacDeleter {
    void operator()(EVP_MAC* p) const noexcept { EVP_MAC_free(p); }
};
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
};
struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct DecoderCtxDeleter {
    void operator()(OSSL_DECODER_CTX* p) const noexcept { OSSL_DECODER_CTX_free(p); }
};
struct BioDeleter {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using MacPtr = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using DecoderCtxPtr = std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

constexpr std::size_t kSha256Bytes = 32;
using Sha256Mac = std::array<unsigned char, kSha256Bytes>;

// Drains this thread's OpenSSL error queue into one line (a failed call leaves
// entries behind, and the queue is per thread, so it must not grow).
std::string openssl_error() {
    std::string out;
    char buf[256];
    while (const unsigned long code = ERR_get_error()) {
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

std::optional<Sha256Mac> hmac_sha256(EVP_MAC* mac, std::string_view key, std::string_view data) {
    MacCtxPtr ctx(EVP_MAC_CTX_new(mac));
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    Sha256Mac out{};
    std::size_t written = 0;
    if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1 ||
        EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out.data(), &written, out.size()) != 1 || written != out.size()) {
        ERR_clear_error();
        return std::nullopt;
    }
    return out;
}

MacPtr fetch_hmac() { return MacPtr(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr)); }

// "\n" (backslash, n) becomes a newline: PEMs arrive through environment
// variables that cannot hold newlines (Docker, Kubernetes).
std::string unescape_newlines(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

constexpr std::string_view kPemBegin = "-----BEGIN ";

// The label of the first PEM block ("PUBLIC KEY" in "-----BEGIN PUBLIC KEY-----").
std::string_view pem_label(std::string_view pem) {
    if (!pem.starts_with(kPemBegin)) return {};
    pem.remove_prefix(kPemBegin.size());
    const auto end = pem.find("-----");
    return end == std::string_view::npos ? std::string_view{} : pem.substr(0, end);
}

// An RSA public key from SPKI ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY") PEM.
std::variant<PkeyPtr, std::string> parse_rsa_public_pem(const std::string& pem) {
    const std::string_view label = pem_label(pem);
    if (label != "PUBLIC KEY" && label != "RSA PUBLIC KEY") {
        return "the JWT secret is a PEM block \"" + std::string(label).substr(0, 40) +
               "\"; RS256 needs an RSA public key (\"PUBLIC KEY\" or \"RSA PUBLIC KEY\")";
    }
    EVP_PKEY* raw = nullptr;
    DecoderCtxPtr dctx(
        OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, "RSA", OSSL_KEYMGMT_SELECT_PUBLIC_KEY, nullptr, nullptr));
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    std::size_t length = pem.size();
    const bool decoded = dctx && OSSL_DECODER_from_data(dctx.get(), &data, &length) == 1;
    PkeyPtr key(raw);
    if (!decoded || !key) return "the JWT secret's RSA public key PEM does not parse: " + openssl_error();
    if (EVP_PKEY_is_a(key.get(), "RSA") != 1) return std::string("the JWT secret's PEM key is not an RSA key");
    if (const int bits = EVP_PKEY_get_bits(key.get()); bits < kMinRsaBits) {
        return "the JWT secret's RSA key has " + std::to_string(bits) + " bits; RS256 needs at least " +
               std::to_string(kMinRsaBits);
    }
    return key;
}

bool rsa_sha256_verify(EVP_PKEY* key, std::string_view data, std::string_view signature) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const bool ok =
        ctx && EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    if (!ok) ERR_clear_error();
    return ok;
}

// base64url alphabet -> 6-bit value, 0xFF for anything else.
constexpr std::array<std::uint8_t, 256> make_decode_table() {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t) v = 0xFF;
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return t;
}
constexpr auto kDecodeTable = make_decode_table();
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// A claim or header value for a log line: JSON-escaped (no control characters
// reach the log) and cut short.
std::string for_log(const json& value) {
    std::string text = value.dump(-1, ' ', true, json::error_handler_t::replace);
    if (text.size() > 64) text = text.substr(0, 61) + "...";
    return text;
}

std::optional<json> parse_object(std::string_view text) {
    json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_object()) return std::nullopt;
    return value;
}

// `exp` as whole seconds; NumericDate may be fractional (RFC 7519 §2), and
// since `now` is whole seconds, flooring keeps `now <= exp + leeway` exact.
std::optional<std::int64_t> numeric_date(const json& value) {
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    if (value.is_number_unsigned()) {
        const auto u = value.get<std::uint64_t>();
        return u > static_cast<std::uint64_t>(kMax) ? kMax : static_cast<std::int64_t>(u);
    }
    if (value.is_number_integer()) return value.get<std::int64_t>();
    if (value.is_number_float()) {
        const double d = std::floor(value.get<double>());
        if (!std::isfinite(d)) return std::nullopt;
        if (d >= 9.2e18) return kMax;
        if (d <= -9.2e18) return kMin;
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

JwtVerifier::Result fail(std::string reason) { return {std::nullopt, std::move(reason)}; }

}  // namespace

struct JwtVerifier::Key {
    std::string hmac_key;  // HS256: the secret's raw bytes
    MacPtr hmac;           // HS256: the HMAC implementation, fetched once
    PkeyPtr rsa;           // RS256: the public key, parsed once
};

std::string_view algorithm_name(JwtVerifier::Algorithm algorithm) noexcept {
    return algorithm == JwtVerifier::Algorithm::HS256 ? "HS256" : "RS256";
}

JwtVerifier::JwtVerifier(Algorithm algorithm, std::shared_ptr<const Key> key, JwtConfig config)
    : algorithm_(algorithm), key_(std::move(key)), config_(std::move(config)) {}

std::variant<JwtVerifier, std::string> JwtVerifier::create(JwtConfig config) {
    if (config.secret.empty()) return std::string("the JWT secret is empty");
    if (config.leeway_seconds < 0) return std::string("the JWT leeway must not be negative");
    auto key = std::make_shared<Key>();
    const std::string normalized = unescape_newlines(config.secret);
    if (normalized.starts_with("-----BEGIN")) {
        auto parsed = parse_rsa_public_pem(normalized);
        if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
        key->rsa = std::move(std::get<PkeyPtr>(parsed));
        return JwtVerifier(Algorithm::RS256, std::move(key), std::move(config));
    }
    // The raw secret, not the unescaped one: the reference server keys HMAC
    // with the secret's bytes as given.
    key->hmac_key = config.secret;
    key->hmac = fetch_hmac();
    if (!key->hmac) return "HMAC is not available in this OpenSSL: " + openssl_error();
    return JwtVerifier(Algorithm::HS256, std::move(key), std::move(config));
}

JwtVerifier::Result JwtVerifier::verify(std::string_view token, std::int64_t now_seconds) const {
    try {
        return verify_unguarded(token, now_seconds);
    } catch (const std::exception& e) {  // allocation failure, or a library bug: never escapes
        return fail(std::string("internal error while verifying the token: ") + e.what());
    }
}

JwtVerifier::Result JwtVerifier::verify_unguarded(std::string_view token, std::int64_t now_seconds) const {
    // Shape: bounded size, exactly three segments.
    if (token.empty()) return fail("the token is empty");
    if (token.size() > kMaxTokenBytes) {
        return fail("the token is " + std::to_string(token.size()) + " bytes, over the " +
                    std::to_string(kMaxTokenBytes) + "-byte limit");
    }
    const auto first_dot = token.find('.');
    const auto second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
    if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
        const auto dots = static_cast<std::size_t>(std::count(token.begin(), token.end(), '.'));
        return fail("the token has " + std::to_string(dots + 1) + " dot-separated segments, not 3");
    }
    const std::string_view header_b64 = token.substr(0, first_dot);
    const std::string_view payload_b64 = token.substr(first_dot + 1, second_dot - first_dot - 1);
    const std::string_view signature_b64 = token.substr(second_dot + 1);
    const std::string_view signing_input = token.substr(0, second_dot);

    // Header: only the server's algorithm is accepted, whatever the token says.
    const auto header_text = base64url_decode(header_b64);
    if (!header_text) return fail("the token header is not valid base64url");
    const auto header = parse_object(*header_text);
    if (!header) return fail("the token header is not a JSON object");
    const auto alg = header->find("alg");
    if (alg == header->end()) return fail("the token header has no alg");
    if (!alg->is_string()) return fail("the token header's alg is not a string");
    const std::string expected(algorithm_name(algorithm_));
    if (alg->get_ref<const std::string&>() != expected) {
        return fail("the token's algorithm " + for_log(*alg) + " is refused: this server accepts " + expected +
                    " only");
    }
    if (header->contains("crit")) {
        return fail("the token header lists critical extensions (crit); none are supported");
    }

    // Signature, before anything in the payload is believed.
    const auto signature = base64url_decode(signature_b64);
    if (!signature) return fail("the token signature is not valid base64url");
    if (algorithm_ == Algorithm::HS256) {
        const auto mac = hmac_sha256(key_->hmac.get(), key_->hmac_key, signing_input);
        if (!mac) return fail("HMAC-SHA256 failed inside OpenSSL");
        if (signature->size() != mac->size() || CRYPTO_memcmp(signature->data(), mac->data(), mac->size()) != 0) {
            return fail("the token signature does not match (HS256)");
        }
    } else if (!rsa_sha256_verify(key_->rsa.get(), signing_input, *signature)) {
        return fail("the token signature does not verify against the RSA public key (RS256)");
    }

    // Claims.
    const auto payload_text = base64url_decode(payload_b64);
    if (!payload_text) return fail("the token payload is not valid base64url");
    const auto claims = parse_object(*payload_text);
    if (!claims) return fail("the token payload is not a JSON object");

    const auto exp = claims->find("exp");
    if (exp == claims->end()) return fail("the token has no exp claim");
    const auto expires = numeric_date(*exp);
    if (!expires) return fail("the token's exp claim is not a number: " + for_log(*exp));
    const std::int64_t leeway = config_.leeway_seconds;
    const std::int64_t oldest_valid_exp = now_seconds < std::numeric_limits<std::int64_t>::min() + leeway
                                              ? std::numeric_limits<std::int64_t>::min()
                                              : now_seconds - leeway;
    if (*expires < oldest_valid_exp) {
        return fail("the token expired at " + std::to_string(*expires) + " (now " + std::to_string(now_seconds) +
                    ", leeway " + std::to_string(leeway) + " s)");
    }

    Principal principal;
    const auto sub = claims->find("sub");
    if (sub == claims->end()) return fail("the token has no sub claim");
    if (!sub->is_string()) return fail("the token's sub claim is not a string: " + for_log(*sub));
    principal.id = sub->get<std::string>();
    if (principal.id.empty()) return fail("the token's sub claim is empty");

    if (const auto roles = claims->find("roles"); roles != claims->end()) {
        if (!roles->is_array()) return fail("the token's roles claim is not an array: " + for_log(*roles));
        for (const auto& role : *roles) {
            if (!role.is_string()) return fail("the token's roles claim holds a non-string: " + for_log(role));
            principal.roles.push_back(role.get<std::string>());
        }
    }

    if (config_.issuer) {
        const auto iss = claims->find("iss");
        if (iss == claims->end())
            return fail("the token has no iss claim (issuer \"" + *config_.issuer + "\" required)");
        if (!iss->is_string() || iss->get_ref<const std::string&>() != *config_.issuer) {
            return fail("the token's issuer " + for_log(*iss) + " is not the configured issuer");
        }
    }
    if (config_.audience) {
        const auto aud = claims->find("aud");
        if (aud == claims->end()) {
            return fail("the token has no aud claim (audience \"" + *config_.audience + "\" required)");
        }
        bool found = false;
        if (aud->is_string()) {
            found = aud->get_ref<const std::string&>() == *config_.audience;
        } else if (aud->is_array()) {
            for (const auto& entry : *aud) {
                if (!entry.is_string()) return fail("the token's aud claim holds a non-string: " + for_log(entry));
                found = found || entry.get_ref<const std::string&>() == *config_.audience;
            }
        } else {
            return fail("the token's aud claim is neither a string nor an array: " + for_log(*aud));
        }
        if (!found) return fail("the token's audience " + for_log(*aud) + " does not include the configured one");
    }
    return {std::move(principal), {}};
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    const auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
        for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 63];
    }
    if (const std::size_t rest = bytes.size() - i; rest > 0) {
        const std::uint32_t n = (at(i) << 16) | (rest == 2 ? at(i + 1) << 8 : 0);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        if (rest == 2) out += kAlphabet[(n >> 6) & 63];
    }
    return out;
}

// OpenSSL's base64 codec speaks only the padded standard alphabet, so the URL
// form is decoded here; strict so that a token has one spelling.
std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int pending = 0;  // bits held in `bits`
    for (const char c : text) {
        const std::uint8_t v = kDecodeTable[static_cast<unsigned char>(c)];
        if (v == 0xFF) return std::nullopt;
        bits = (bits << 6) | v;
        pending += 6;
        if (pending >= 8) {
            pending -= 8;
            out += static_cast<char>((bits >> pending) & 0xFF);
        }
    }
    // 2 or 4 leftover bits must be zero (a non-canonical last character).
    if ((bits & ((1u << pending) - 1)) != 0) return std::nullopt;
    return out;
}

namespace {

std::string signing_input(std::string_view header, const json& claims) {
    if (!claims.is_object()) throw std::invalid_argument("JWT claims must be a JSON object");
    return base64url_encode(header) + '.' + base64url_encode(claims.dump());
}

}  // namespace

std::string sign_hs256(const json& claims, std::string_view secret) {
    std::string input = signing_input(R"({"alg":"HS256","typ":"JWT"})", claims);
    const MacPtr hmac = fetch_hmac();
    const auto mac = hmac ? hmac_sha256(hmac.get(), secret, input) : std::nullopt;
    if (!mac) throw std::runtime_error("HMAC-SHA256 failed: " + openssl_error());
    return input + '.' + base64url_encode({reinterpret_cast<const char*>(mac->data()), mac->size()});
}

std::string sign_rs256(const json& claims, std::string_view private_key_pem) {
    std::string input = signing_input(R"({"alg":"RS256","typ":"JWT"})", claims);
    const std::string pem = unescape_newlines(private_key_pem);
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key || EVP_PKEY_is_a(key.get(), "RSA") != 1) {
        throw std::invalid_argument("not an RSA private key PEM: " + openssl_error());
    }
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.get(), nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) != 1) {
        throw std::runtime_error("RS256 signing failed: " + openssl_error());
    }
    std::string signature(length, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data, input.size()) !=
        1) {
        throw std::runtime_error("RS256 signing failed: " + openssl_error());
    }
    signature.resize(length);
    return input + '.' + base64url_encode(signature);
}

}  // namespace topgun::auth
