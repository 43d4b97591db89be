// The node `amplitude` package's README calls (seed 004), with nothing pointed at ampkit but
// `https_proxy`: the package keeps its hard-coded https://api.amplitude.com and
// https://amplitude.com/api/2. Prints one JSON object of what each call resolved (or rejected)
// with; tests/server/test_server_node_amplitude.py runs it and checks the README's promises.
//
//   node amplitude_via_proxy.js '{"key": …, "secret": …, "user": …, "time": …, "start": …,
//                                 "end": …, "exportStart": …, "exportEnd": …, "exportFile": …}'
'use strict'

const fs = require('fs')
const Amplitude = require('amplitude')

const args = JSON.parse(process.argv[2])

// what a call resolved with, or how it was rejected (AmplitudeErrorResponse: status and body)
async function outcome (promise) {
  try {
    return { ok: true, value: await promise }
  } catch (err) {
    let data = err.data === undefined ? null : err.data
    if (data !== null && typeof data.pipe === 'function') data = await text(data) // export's
    return { ok: false, status: err.status === undefined ? null : err.status, data,
      message: String(err.message) }
  }
}

async function text (stream) {
  const chunks = []
  for await (const chunk of stream) chunks.push(chunk)
  const body = Buffer.concat(chunks).toString('utf8')
  try { return JSON.parse(body) } catch (_) { return body }
}

async function exportTo (amplitude, file) {
  const stream = await amplitude.export({ start: args.exportStart, end: args.exportEnd })
  await new Promise((resolve, reject) => {
    const out = fs.createWriteStream(file)
    stream.data.on('error', reject)
    out.on('error', reject)
    out.on('finish', resolve)
    stream.data.pipe(out)
  })
  return { status: stream.status, contentType: stream.headers['content-type'] }
}

async function main () {
  // the README's constructor: only the api token (and the secret key for the dashboard calls)
  const amplitude = new Amplitude(args.key, { secretKey: args.secret })
  const result = {}
  result.track = await outcome(amplitude.track({
    event_type: 'node_signup', user_id: args.user, device_id: 'node-device-1',
    time: args.time, event_properties: { plan: 'pro' }
  }))
  // an array, in camelCase (the README's other two forms)
  result.trackArray = await outcome(amplitude.track([
    { eventType: 'node_signup', userId: args.user, deviceId: 'node-device-1', time: args.time + 1000 },
    { eventType: 'node_purchase', userId: args.user, deviceId: 'node-device-1', time: args.time + 2000 }
  ]))
  result.identify = await outcome(amplitude.identify({
    user_id: args.user, user_properties: { $set: { plan: 'pro' }, $add: { logins: 1 } }
  }))
  result.userSearch = await outcome(amplitude.userSearch(args.user))
  result.userSearchNone = await outcome(amplitude.userSearch('nobody-by-that-name'))
  const match = result.userSearch.ok ? result.userSearch.value.matches[0] : undefined
  result.userActivity = match === undefined
    ? { ok: false, status: null, data: null, message: 'userSearch found no match' }
    : await outcome(amplitude.userActivity(match.amplitude_id))
  result.userActivityUnknown = await outcome(amplitude.userActivity(987654321))
  result.eventSegmentation = await outcome(amplitude.eventSegmentation({
    e: { event_type: 'node_signup' }, start: args.start, end: args.end
  }))
  result.eventSegmentationUnknown = await outcome(amplitude.eventSegmentation({
    e: { event_type: 'no_such_event' }, start: args.start, end: args.end
  }))
  result.export = await outcome(exportTo(amplitude, args.exportFile))
  const wrong = new Amplitude(args.key, { secretKey: 'not-the-secret' })
  result.wrongSecret = await outcome(wrong.userSearch(args.user))
  process.stdout.write(JSON.stringify(result))
}

main().catch(err => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
