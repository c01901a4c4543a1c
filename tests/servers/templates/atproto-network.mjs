// A local AT Protocol network for Communa's Bluesky tests (tests/servers/atproto.py starts it): Bluesky's own
// harness, @atproto/dev-env, with a PLC directory, a PDS, an AppView (+ bsync) and Ozone, on free ports.
//
// Expects DB_POSTGRES_URL, DB_POSTGRES_SCHEMA and REDIS_HOST (private instances started by the fixture).
// Prints one line `READY {json}` with the services' URLs once the network answers; stops on SIGTERM.
import net from 'node:net'

// The services call listen(port) with no host, which binds every interface: keep them on loopback.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const host = typeof args[1] === 'string' ? args[1] : null
    if (!host || host === '0.0.0.0' || host === '::') {
      const callback = args.find((arg) => typeof arg === 'function')
      return listen.call(this, Number(args[0]), '127.0.0.1', ...(callback ? [callback] : []))
    }
  } else if (args[0] && typeof args[0] === 'object' && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}

const { TestNetwork } = await import('@atproto/dev-env')
const started = Date.now()
const network = await TestNetwork.create({
  pds: { hostname: 'localhost' },
  // Ozone's chat integration is unused here: point it nowhere rather than at a real service.
  ozone: { chatUrl: 'http://127.0.0.1:9', chatDid: 'did:example:chat' },
})
const urls = {
  ms: Date.now() - started,
  plc: network.plc.url,
  pds: network.pds.url,
  appview: network.bsky.url,
  appviewDid: network.bsky.ctx.cfg.serverDid,
  ozone: network.ozone.url,
}
console.log(`READY ${JSON.stringify(urls)}`)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  try {
    await network.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
