"""
Webhook notifications: Distribution's events, appended to an on-disk spool
before the API answers, then delivered in order to each endpoint.

L{txregistry.notifications.events} holds the event records and their JSON;
L{txregistry.notifications.emitter} builds them from API requests;
L{txregistry.notifications.spool} is the durable queue;
L{txregistry.notifications.endpoint} delivers one endpoint's queue with
retries; L{txregistry.notifications.http} is the treq webhook sink;
L{txregistry.notifications.service} ties them to the running registry.
"""
