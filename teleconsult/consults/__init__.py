"""Video consults (docs/consults.md): the pure core. No I/O, no asyncio, no aiohttp.

* :mod:`.lifecycle`: the consult's states, events and who may cause them, as one table;
* :mod:`.model`: the consult record, its transitions, chat and file messages, who is acting;
* :mod:`.signaling`: the signalling socket's protocol as a sans-I/O state machine;
* :mod:`.presence`: on duty / busy / offline from duty flags and heartbeats;
* :mod:`.turn`: ICE servers and coturn REST-API (``use-auth-secret``) credentials.
"""
