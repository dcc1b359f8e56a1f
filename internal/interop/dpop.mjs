// An unchanged third-party client (oauth4webapi, DPoP built in) against
// this project's servers: discover the authorization server, get a
// DPoP-bound token by client credentials, and call the resource with it
// twice (a fresh proof each time). Prints one JSON line of what it saw;
// any refusal throws, and the process exits non-zero.
//
// usage: node dpop.mjs ISSUER RESOURCE_URL CLIENT_ID CLIENT_SECRET
import * as oauth from 'oauth4webapi'

const [issuerArg, resourceArg, clientId, clientSecret] = process.argv.slice(2)
const insecure = { [oauth.allowInsecureRequests]: true } // the test servers are http on 127.0.0.1

const issuer = new URL(issuerArg)
const as = await oauth.processDiscoveryResponse(issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
const client = { client_id: clientId }
const keyPair = await oauth.generateKeyPair('ES256')
const DPoP = oauth.DPoP(client, keyPair)

const tokenResponse = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(clientSecret),
  new URLSearchParams({ scope: 'items:read items:write' }), { DPoP, ...insecure })
const token = await oauth.processClientCredentialsResponse(as, client, tokenResponse)

const statuses = []
for (let i = 0; i < 2; i++) {
  const r = await oauth.protectedResourceRequest(token.access_token, 'GET', new URL(resourceArg), new Headers(), null,
    { DPoP, ...insecure })
  statuses.push(r.status)
  await r.text()
}
// The same token without a proof, as a thief holding only the token would
// send it.
const stolen = await fetch(resourceArg, { headers: { authorization: 'Bearer ' + token.access_token } })
console.log(JSON.stringify({
  dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported,
  token_type: token.token_type,
  jwt: token.access_token.split('.').length === 3,
  statuses,
  stolen: stolen.status,
  stolen_challenge: stolen.headers.get('www-authenticate'),
}))
