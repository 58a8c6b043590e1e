"""The telephone channel: calls on the store, Twilio webhooks (signature, TwiML), and
outbound calls through the Twilio REST API. The turn pipeline is the chat's own."""
