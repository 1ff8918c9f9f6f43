"""Support messages → {intent, order_id, urgency}: templated data split by template.

Every message is one *frame* (a sentence pattern written for one intent) filled with an order
reference (or none), an urgency cue and small noise (greetings, sign-offs, casing). Frames are
split between train, calibration and test, so the test split's sentence patterns were never seen
in training (slot fillers — order-id formats, urgency cues, names — are shared; the bench says so).
Labels come from the generator, so they are exact.
"""

from __future__ import annotations

import json
import random
import string

INTENTS = ("refund", "cancel_order", "track_order", "change_address", "damaged_item", "billing_issue")
URGENCIES = ("low", "medium", "high")

SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": list(INTENTS)},
        "order_id": {"anyOf": [{"type": "string", "pattern": "^[A-Z]{2}[0-9]{6}$"}, {"type": "null"}]},
        "urgency": {"type": "string", "enum": list(URGENCIES)},
    },
    "required": ["intent", "order_id", "urgency"],
    "additionalProperties": False,
}

# The short instruction the fine-tuned specialist is trained and served with.
SYSTEM = "Extract the support request as JSON: intent, order_id (or null), urgency."

# A middle ground a team would write: the labels with a few words each, so unseen phrasings have something to match.
LABELLED_SYSTEM = (
    "Extract the support request as JSON. intent: refund (money back), cancel_order (stop it before it ships), "
    "track_order (where is the parcel), change_address (deliver somewhere else), damaged_item (arrived broken or "
    "faulty), billing_issue (wrong or double charge, invoice). order_id: the order reference or null. "
    "urgency: high, medium or low."
)

# The zero-shot base gets the full specification instead (its only chance to know the labels).
ZERO_SHOT_SYSTEM = (
    "You read customer support messages and extract three fields as a JSON object.\n"
    "- intent: one of refund (wants money back), cancel_order (wants to cancel before it ships), "
    "track_order (asks where the parcel is), change_address (wants delivery to another address), "
    "damaged_item (item arrived broken or faulty), billing_issue (wrong or double charge, invoice problems).\n"
    "- order_id: the order reference, two capital letters and six digits such as KT204913, without any '#'; "
    "null when the message gives none.\n"
    "- urgency: high when the customer says it is urgent or needs it today or now, low when they say there is "
    "no rush, otherwise medium.\n"
    'Answer with the JSON object only, e.g. {"intent": "refund", "order_id": "KT204913", "urgency": "medium"}.'
)

# {ref}: an order reference phrase (may be empty when the message gives none); {cue}: the urgency cue.
FRAMES: dict[str, list[str]] = {
    "refund": [
        "I'd like my money back for {ref}.{cue}",
        "Please refund {ref}, I returned it last week.{cue}",
        "{cue} Can I get a refund on {ref}? It was not what I expected.",
        "I sent back {ref} and still haven't seen the refund.{cue}",
        "The shoes from {ref} don't fit, I want a refund rather than an exchange.{cue}",
        "How do I get reimbursed for {ref}?{cue}",
        "{cue} Requesting a full refund for {ref}.",
        "Changed my mind about {ref} - please give me my money back.{cue}",
        "Please send the money for {ref} back to my card.{cue}",
        "{cue} I returned {ref} two weeks ago, when will I be reimbursed?",
        "I want my payment for {ref} returned, the product is not for me.{cue}",
        "Could you process a refund for {ref}? I already dropped it at the post office.{cue}",
        "The jacket in {ref} was too small, so I'd rather have the cash back.{cue}",
        "{cue} Please credit my account for {ref}, I sent everything back.",
        "What's the status of my refund for {ref}?{cue}",
        "I no longer need {ref}, I shipped it back and want the money returned.{cue}",
        "Return received for {ref}? I'm still waiting on the reimbursement.{cue}",
        "{cue} Money back for {ref} please, it didn't match the description.",
        "Can I have {ref} refunded to PayPal instead of store credit?{cue}",
        "I'm owed a refund on {ref} after sending it back.{cue}",
        "I'd like to be paid back for {ref}, it broke my trust in the brand.{cue}",
        "{cue} Has the reimbursement for {ref} been issued yet?",
        "Return the full amount of {ref} to my bank account please.{cue}",
        "I want to return {ref} for a refund, not store credit.{cue}",
        "You received {ref} back days ago, where is my money?{cue}",
        "{cue} I'm asking for a refund on {ref} because it arrived late for the event.",
        "Please reverse the payment for {ref}, I sent the item back.{cue}",
        "Can the cost of {ref} be refunded? It wasn't as advertised.{cue}",
        "I'd prefer a refund over a replacement for {ref}.{cue}",
        "{cue} Kindly refund {ref} to my original payment method.",
        'Hello? I returned {ref} a month ago and my card still shows no credit back.{cue}',
        '{cue} Not happy with {ref}. I just want my money, not a replacement.',
        'so i sent {ref} back, when does the money come back to me?{cue}',
        "My return for {ref} was accepted, but the refund hasn't reached my bank yet.{cue}",
        'Could I get the purchase price of {ref} back? The item went back in its original box.{cue}',
        '{cue} I expect a refund for {ref}; your returns page says 14 days and it has been 20.',
        'The seller agreed to take {ref} back - please pay me back the full amount.{cue}',
        "I'm returning {ref} under your satisfaction guarantee and would like a refund.{cue}",
        'Please issue my refund for {ref}, the courier confirmed you got the parcel.{cue}',
        "{cue} Give me back what I paid for {ref}, I don't want a voucher.",
        "Where's my reimbursement? {ref} was returned and signed for.{cue}",
        "Quick one: can {ref} be refunded in full? I've boxed it up to send back.{cue}",
        "I'd like my payment for {ref} reimbursed, the colour is nothing like the photos.{cue}",
        '{cue} Money still not back for {ref} even though the return shows as complete.',
        'Requesting reimbursement for {ref}, returned unopened.{cue}',
        'Refund please! {ref} went back to you on Tuesday.{cue}',
        'I would like you to refund {ref} to my debit card once the return arrives.{cue}',
        '{cue} Following up on the refund I was promised for {ref}.',
        "Can you pay back the amount for {ref}? I don't want to keep it.{cue}",
        'The return label for {ref} worked fine, now I just need my money back.{cue}',
        "{cue} I'm writing to request that the amount paid for {ref} be returned to me.",
        "Got my return confirmation for {ref} but no money yet, when is it coming?{cue}",
        "pls refund {ref}, sent it back already and dont want a swap{cue}",
        "I decided to keep the other one, so I posted {ref} back to you. Please return my money.{cue}",
        "{cue} Can you confirm the refund amount for {ref}? I returned it in full.",
        "Is a cash refund possible for {ref}, or only a voucher?{cue}",
        "I returned {ref} within the 30-day window, so please reimburse me.{cue}",
        "{cue} Me I send back {ref} already, please to give my money back.",
        "How many days until I'm reimbursed for {ref}? Your warehouse has the return.{cue}",
        "I'm not satisfied with {ref} and would like a refund of the purchase price.{cue}",
        "{cue} Refund for {ref}, please. Return tracking shows it reached you.",
        "I'd appreciate getting reimbursed for {ref}, the goods were sent back on Friday.{cue}",
        "Please arrange a refund for {ref}; it turned out to be the wrong model for my needs.{cue}",
        "{cue} Still no refund on {ref}. Your team confirmed the return weeks ago.",
        "I want {ref} refunded. Simple as that.{cue}",
        "Do I get my money back for {ref} if I return it unused?{cue}",
        "Please refund {ref} to the card it was paid with, the gift recipient already had one and we've sent it back.{cue}",
        "{cue} I'd like a refund for {ref}, the size chart was misleading and it's going back to you.",
        "Where do things stand with paying me back for {ref}?{cue}",
        "Refund request: {ref}, item returned unworn with tags on.{cue}",
        "{cue} Hello, I hope you can help. I posted {ref} back and I would like the money refunded to my Visa.",
        "It's been three weeks since you got {ref} back and I've not been refunded.{cue}",
        "Can I get the money for {ref} returned as a bank transfer?{cue}",
        "{cue} I regret buying {ref}, it's going back and I'd like a refund.",
        "According to your policy I'm entitled to my money back on {ref}, please process it.{cue}",
        "I'd like to return {ref} and be reimbursed; it's just not what I needed.{cue}",
        "{cue} My refund for {ref} is still marked as pending. When will the money land?",
        "Hi team, could {ref} be refunded rather than exchanged? I've printed the return label.{cue}",
        "Kindly reimburse me the price of {ref}. I am not wanting it and already shipped back.{cue}",
        "{cue} Return dropped off for {ref}; please get the money back onto my card.",
    ],
    "cancel_order": [
        "Please cancel {ref} before it ships.{cue}",
        "I ordered by mistake, cancel {ref}.{cue}",
        "{cue} I need to cancel {ref}, I found it cheaper elsewhere.",
        "Can you stop {ref}? I no longer want it.{cue}",
        "Cancel my purchase {ref} please.{cue}",
        "I want to call off {ref} while it is still processing.{cue}",
        "{cue} Don't send {ref}, I'm cancelling it.",
        "Is it too late to cancel {ref}?{cue}",
        "Please don't ship {ref}, I want to cancel it.{cue}",
        "{cue} Cancel {ref} right away, I ordered the wrong size.",
        "I'd like to withdraw {ref} before you dispatch it.{cue}",
        "Please void {ref}, I placed it twice by accident.{cue}",
        "Can {ref} still be cancelled? It says processing.{cue}",
        "{cue} Scrap {ref}, I don't need it anymore.",
        "I changed my mind, please cancel {ref} before it leaves the warehouse.{cue}",
        "Kindly cancel {ref} and don't charge me.{cue}",
        "How can I cancel {ref}? I can't find the button.{cue}",
        "{cue} Please halt {ref}, I won't be home to receive it and want to cancel.",
        "I need to cancel {ref} that I placed this morning.{cue}",
        "Stop processing {ref}, I'm cancelling the purchase.{cue}",
        "Please call off the delivery of {ref}, I'm cancelling it.{cue}",
        "{cue} I'd like {ref} cancelled, I bought it somewhere else.",
        "Cancel {ref} and refund the card I used, it hasn't shipped.{cue}",
        "I accidentally ordered {ref}, please cancel it.{cue}",
        "Don't process {ref} any further, I want it cancelled.{cue}",
        "{cue} Please terminate {ref} before dispatch.",
        "Can you cancel {ref}? The delivery date is too late for me.{cue}",
        "I'm cancelling {ref}, please confirm.{cue}",
        "Remove {ref} from your queue, I don't want it anymore.{cue}",
        "{cue} Cancellation request for {ref}.",
        "Oops, I didn't mean to buy {ref}. Can you cancel it before it goes out?{cue}",
        '{cue} I want to back out of {ref}, please cancel the whole thing.',
        'please cancel {ref}, my husband already bought the same thing{cue}',
        'Before {ref} is packed, could you cancel it for me?{cue}',
        'I no longer want to go ahead with {ref}, please cancel.{cue}',
        '{cue} Kill {ref}, I placed it on the wrong account.',
        'Is there still time to cancel {ref}? Nothing has shipped yet.{cue}',
        "Please cancel {ref} entirely, I'll reorder later.{cue}",
        "I'd like to cancel {ref} - the price dropped and I'll buy it again.{cue}",
        '{cue} Cancel the order {ref} I made an hour ago.',
        "Hold off on {ref} and cancel it, I've changed my plans.{cue}",
        "Can I undo {ref}? I haven't received a shipping notice, so please cancel it.{cue}",
        'I wish to cancel {ref} under your cooling-off policy before dispatch.{cue}',
        '{cue} Please stop {ref} from going out and cancel it.',
        'I clicked buy twice; please cancel {ref}.{cue}',
        "Could you cancel {ref}? My card was stolen and I'm cancelling all my orders.{cue}",
        "Don't bother sending {ref}, just cancel it please.{cue}",
        '{cue} I would like to cancel {ref} as the item is no longer needed.',
        'Please put a stop to {ref} and cancel it, the gift is no longer needed.{cue}',
        "Cancel {ref} for me? It's still showing as pending.{cue}",
        "{cue} I'd like to cancel {ref}, the event it was for has been called off.",
        "Please don't dispatch {ref}, cancel the entire thing.{cue}",
        "Can I still cancel {ref}, or has it already gone to the packing team?{cue}",
        "i wanna cancel {ref} pls, picked the wrong colour by mistake{cue}",
        "{cue} Please cancel {ref} while it's still in processing, I entered the wrong quantity.",
        "I'd like {ref} not to be sent at all - please cancel it.{cue}",
        "Before anything is shipped, I want to cancel {ref}.{cue}",
        "{cue} Please annul {ref}, I no longer wish to proceed with the purchase.",
        "Would it be possible to cancel {ref}? It hasn't been dispatched according to my account.{cue}",
        "My boss says we don't need {ref} after all, so please cancel it.{cue}",
        "{cue} Cancel {ref}, please, before it gets packed; we bought one in store.",
        "Is {ref} cancellable? I'd like to cancel it before it leaves you.{cue}",
        "I want to revoke {ref} before it is sent out.{cue}",
        "{cue} I ordered {ref} for a trip that's been cancelled, so please cancel the order too.",
        "Please cancel {ref}; I'm going to order a different model instead.{cue}",
        "Cancel the items in {ref} that haven't shipped - actually, cancel all of it.{cue}",
        "{cue} I need {ref} cancelled before it goes to the courier.",
        "Hello, I'm wanting to cancel {ref} which I made yesterday evening.{cue}",
        "Please cancel {ref}. It was placed by my child without permission.{cue}",
        "{cue} Can {ref} be cancelled? It's still showing as not yet shipped.",
        "I've had second thoughts about {ref}; please cancel it before dispatch.{cue}",
        "Cancel {ref} please, I won't be needing it after all.{cue}",
        "{cue} I am requesting the cancellation of {ref} prior to shipment.",
        "Please make sure {ref} never leaves the warehouse - I'm cancelling.{cue}",
        "Could you kindly cancel {ref}? I picked the wrong item and I'd rather start over.{cue}",
        "{cue} No longer want {ref}, cancel before shipping pls.",
        "Can I cancel {ref} online, or do you have to do it for me?{cue}",
        "I want out of {ref} - please cancel it while it's unshipped.{cue}",
        "{cue} Please cancel {ref}, we are closing the shop and won't be taking any stock.",
        "Sorry for the hassle, but please cancel {ref} - I bought it on impulse.{cue}",
    ],
    "track_order": [
        "Where is {ref}? It should have arrived by now.{cue}",
        "Can you tell me the delivery status of {ref}?{cue}",
        "{cue} I haven't received {ref} yet, where is it?",
        "Tracking for {ref} hasn't updated in days.{cue}",
        "When will {ref} be delivered?{cue}",
        "Has {ref} shipped yet?{cue}",
        "{cue} Any news on the parcel for {ref}?",
        "My package from {ref} seems lost in transit.{cue}",
        "What's the tracking number for {ref}?{cue}",
        "{cue} {ref} was due on Monday and still hasn't shown up.",
        "Is {ref} out for delivery today?{cue}",
        "The courier site says nothing about {ref}, where is it now?{cue}",
        "Could you check where {ref} is? I've been waiting a week.{cue}",
        "{cue} I'm still waiting for {ref} to arrive.",
        "When can I expect {ref}?{cue}",
        "Has {ref} left the warehouse yet?{cue}",
        "I can't find any shipping update for {ref}.{cue}",
        "{cue} Which carrier is delivering {ref} and when?",
        "{ref} hasn't arrived, can you give me an ETA?{cue}",
        "I'd like an update on the shipment of {ref}.{cue}",
        "Where exactly is {ref} right now?{cue}",
        "{cue} Can you track {ref} for me?",
        "The delivery window for {ref} passed and nothing came.{cue}",
        "Is {ref} stuck at customs?{cue}",
        "I need to know when {ref} will get here.{cue}",
        "{cue} Status update on {ref} please.",
        "The tracking link for {ref} doesn't work, where is my package?{cue}",
        "Did {ref} get shipped? I never got a dispatch email.{cue}",
        "How far along is {ref} in the delivery process?{cue}",
        "{cue} {ref} says delivered but I don't have it, where did it go?",
        'Hi, any idea when {ref} will finally turn up?{cue}',
        "{cue} It's been ten days and {ref} is nowhere to be seen.",
        'where is {ref}?? the app just says in transit{cue}',
        'Could you look up where {ref} currently is?{cue}',
        'I was told {ref} would come yesterday but nothing arrived.{cue}',
        '{cue} Has {ref} been handed to the courier yet?',
        'What day will {ref} reach me?{cue}',
        'Can you share a tracking link for {ref}?{cue}',
        "My neighbour hasn't got {ref} either, where was it left?{cue}",
        "{cue} I'd like to know the expected arrival date of {ref}.",
        "Is {ref} on its way? I haven't heard anything since I paid.{cue}",
        'The estimated delivery for {ref} keeps moving, where is it actually?{cue}',
        'Which depot is {ref} sitting in?{cue}',
        '{cue} No sign of {ref} so far, can you check on it?',
        'When does {ref} ship and when will it get to me?{cue}',
        "I'm waiting on {ref}, could you give me an update on its location?{cue}",
        'Please check the delivery progress of {ref}.{cue}',
        "{cue} Tracking says {ref} is held at the sorting centre, what's going on?",
        'Any update on when {ref} will arrive?{cue}',
        'I need the shipment details for {ref}, where is it now?{cue}',
        "{cue} Could you let me know where {ref} is at the moment?",
        "I ordered {ref} two weeks ago and nothing has come yet.{cue}",
        "What's the current location of {ref}?{cue}",
        "{cue} Has {ref} been posted? I'd like a tracking code.",
        "Still waiting on {ref}... is it even on its way?{cue}",
        "The tracking page for {ref} shows no movement since Friday, where is the package?{cue}",
        "{cue} When is {ref} supposed to be delivered to me?",
        "Could you find out which courier has {ref} and where it's up to?{cue}",
        "hello where is {ref} i dont get it yet{cue}",
        "{cue} I'd like to follow the shipment of {ref}, is there a tracking number?",
        "Has {ref} been dispatched, and if so, when will it arrive?{cue}",
        "Please confirm whether {ref} is in transit.{cue}",
        "{cue} {ref} was promised for last week and I still don't have it.",
        "Any tracking info for {ref}? The email had no link.{cue}",
        "I'm wondering what happened to {ref}, it hasn't turned up.{cue}",
        "{cue} Can you tell me how many days until {ref} arrives?",
        "Where in the world is {ref}?{cue}",
        "The delivery of {ref} is late; could you locate it for me?{cue}",
        "{cue} My parcel for {ref} has not come, please advise where it is.",
        "Roughly when should {ref} land on my doorstep?{cue}",
        "I check my mailbox every day and {ref} isn't there; where is it?{cue}",
        "{cue} Please give me the latest tracking status of {ref}.",
        "Did the courier try to deliver {ref}? I haven't had a card or a parcel.{cue}",
        "Is {ref} coming by post or by courier, and when?{cue}",
        "{cue} The account page for {ref} still says 'preparing', has it shipped?",
        "Could you chase the delivery of {ref} and tell me where it is?{cue}",
        "I have not received {ref}. Can you check its whereabouts?{cue}",
        "{cue} Where has {ref} got to? It's been over a week.",
        "Just checking in on {ref}, is it on the truck yet?{cue}",
        "The tracking number for {ref} isn't recognised on the carrier's website, where is the parcel?{cue}",
    ],
    "change_address": [
        "I moved, please ship {ref} to my new address.{cue}",
        "Can you change the delivery address on {ref}?{cue}",
        "{cue} Wrong address on {ref}, it should go to 14 Elm Street.",
        "Please update where {ref} gets delivered, I'll be at my office.{cue}",
        "Send {ref} to my parents' house instead.{cue}",
        "I typed the wrong postcode for {ref}, can you fix it?{cue}",
        "{cue} Redirect {ref} to a different address please.",
        "Could {ref} be delivered to another address?{cue}",
        "Please deliver {ref} to 22 Baker Road instead of my home.{cue}",
        "{cue} I need to update the shipping address for {ref}.",
        "My address changed, can {ref} go to the new one?{cue}",
        "The apartment number on {ref} is wrong, please correct the address.{cue}",
        "Can I have {ref} shipped to my work address?{cue}",
        "{cue} Please change the destination of {ref} to my sister's place.",
        "I'd like {ref} delivered somewhere else, I'm travelling.{cue}",
        "Update the delivery address of {ref}, I'm moving this weekend.{cue}",
        "Is it possible to reroute {ref} to a pickup point near me?{cue}",
        "{cue} Wrong street on {ref}, please ship it to Oak Avenue 5.",
        "Please edit the address on {ref} before it ships.{cue}",
        "I gave an old address for {ref}, can you change it?{cue}",
        "Please switch the shipping address on {ref} to my new flat.{cue}",
        "{cue} I need {ref} to go to a different city.",
        "Can you amend the delivery details for {ref}? New address below.{cue}",
        "I'm not at home next week, ship {ref} to my office instead.{cue}",
        "My house number is wrong on {ref}, can you change the address?{cue}",
        "{cue} Please send {ref} to my neighbour's address.",
        "Could you alter where {ref} is being shipped?{cue}",
        "I'd like to correct the postal address for {ref}.{cue}",
        "Deliver {ref} to my holiday address please.{cue}",
        "{cue} Address change needed for {ref}.",
        "Hi, I'd like {ref} to be delivered to 9 Mill Lane instead of the address on file.{cue}",
        "{cue} Please change the shipping address for {ref}, I've just moved house.",
        'can {ref} go to my office address instead of home{cue}',
        'I entered my old flat as the delivery address for {ref}; please change it to the new one.{cue}',
        'Please have {ref} delivered to the post office near me instead.{cue}',
        '{cue} Change the address on {ref} to 3 Station Road.',
        'The courier has the wrong address for {ref}, please update it to my current one.{cue}',
        "I'll be staying with friends, can you send {ref} to their address?{cue}",
        'Please correct the street name on {ref}, it should be Hill Road.{cue}',
        "{cue} Could you ship {ref} to my mum's address instead?",
        'I need to change where {ref} goes; new address: 48 Queen Street.{cue}',
        'Is there a way to update the delivery address of {ref} now?{cue}',
        "My flat number is missing from {ref}'s address, please add it.{cue}",
        '{cue} Please redirect {ref} to my new home address.',
        'Could you swap the address on {ref} to my work one?{cue}',
        'I would like to change the recipient address for {ref}.{cue}',
        "Please move {ref}'s delivery to a locker at the station.{cue}",
        '{cue} The postcode on {ref} is wrong, please change the address.',
        'Send {ref} to my university halls instead of my home address.{cue}',
        "Can the delivery address for {ref} be changed to my cousin's?{cue}",
        "{cue} Please send {ref} to my new place at 71 Park Lane instead.",
        "The address on {ref} is missing the building name, please update it to include Rose Court.{cue}",
        "Would it be possible to deliver {ref} to my boyfriend's flat in Leeds instead?{cue}",
        "{cue} I need the shipping address for {ref} changed to 5 Harbour View, Bristol.",
        "pls change adress for {ref} to 17 river st, i moved{cue}",
        "Can I redirect {ref}? I want it to go to a different postcode.{cue}",
        "{cue} {ref} is going to the wrong house, please update the destination to number 42.",
        "Please ship {ref} to the billing address instead of the delivery address I entered.{cue}",
        "I won't be at the address on {ref}; could it be sent to my partner's place instead?{cue}",
        "{cue} Change of delivery address for {ref}: 8 Chapel Road, Flat 2.",
        "For {ref}, the house number should be 15, not 51. Please correct the delivery address.{cue}",
        "Could {ref} be forwarded to my summer cottage?{cue}",
        "{cue} I want {ref} delivered to my new office in Manchester, not my home.",
        "Is it too late to change the address that {ref} is going to?{cue}",
        "Me moving house, so {ref} please send to new address, I give it below.{cue}",
        "{cue} Please amend the delivery postcode on {ref} to SW1A 2AA.",
        "Can you change the town in the shipping address of {ref}? I put the wrong one.{cue}",
        "I'd like {ref} to be shipped to my daughter's address rather than mine.{cue}",
        "{cue} I'm relocating, so {ref} needs to go to my new address in Dublin.",
        "Could the delivery of {ref} go to my hotel during my stay? I'll send the address.{cue}",
        "Please use my updated address for {ref}: 30 Orchard Way.{cue}",
        "{cue} Could you reroute {ref} to my grandparents' farm? The address is in my profile.",
        "I'm away for a month; deliver {ref} to my brother's address please.{cue}",
        "The delivery address on {ref} is wrong. Correct one: 11 Lake Drive.{cue}",
        "{cue} Please change {ref} so that it ships to my studio on Bridge Street.",
        "Will you be able to update where {ref} is sent? My new address is on my account.{cue}",
        "Hi, I've had to move out early; can {ref} go to my new apartment?{cue}",
        "{cue} Wrong city on {ref}. It must be shipped to Glasgow, not Edinburgh.",
        "I'd prefer {ref} be sent to my workplace reception, here's the address.{cue}",
        "Could you edit the recipient address on {ref}? I want it delivered next door at number 7.{cue}",
    ],
    "damaged_item": [
        "The mug in {ref} arrived cracked.{cue}",
        "{ref} came broken, the screen is shattered.{cue}",
        "{cue} My item from {ref} doesn't turn on, it's faulty.",
        "The box for {ref} was crushed and the lamp inside is damaged.{cue}",
        "Part of {ref} is missing and the rest is scratched.{cue}",
        "I received {ref} but it's defective.{cue}",
        "{cue} The chair from {ref} has a broken leg.",
        "{ref} leaked all over the package, the bottle was split.{cue}",
        "The glass in {ref} was smashed when it arrived.{cue}",
        "{cue} {ref} is damaged, the corner is dented.",
        "The headphones from {ref} only work on one side.{cue}",
        "{ref} arrived torn and stained.{cue}",
        "The phone case in {ref} has a crack down the middle.{cue}",
        "{cue} Everything in {ref} was soaked and ruined.",
        "My blender from {ref} stopped working after one use, it's defective.{cue}",
        "{ref} showed up with a broken zip.{cue}",
        "The frame in {ref} is bent and the glass is chipped.{cue}",
        "{cue} The toy from {ref} arrived in pieces.",
        "The laptop from {ref} has dead pixels all over the screen.{cue}",
        "The vase in {ref} came shattered despite the packaging.{cue}",
        "The printer in {ref} arrived with a cracked tray.{cue}",
        "{cue} {ref} is faulty, it keeps switching off.",
        "The plates in {ref} arrived chipped.{cue}",
        "{ref} arrived damaged, the packaging was ripped open.{cue}",
        "The keyboard from {ref} has keys that don't work.{cue}",
        "{cue} The shelf in {ref} came with a snapped bracket.",
        "My order {ref} had a broken seal and the contents spoiled.{cue}",
        "The watch from {ref} arrived with a scratched face.{cue}",
        "{ref} isn't working out of the box, it's defective.{cue}",
        "{cue} The bike from {ref} has a bent wheel.",
        'Opened {ref} today and the screen is cracked right across.{cue}',
        '{cue} The lid on {ref} is snapped off and the contents spilled.',
        "the kettle from {ref} sparks when i switch it on, it's faulty{cue}",
        "I'm afraid {ref} arrived broken; the handle came off in my hand.{cue}",
        'The sofa cushions in {ref} arrived ripped.{cue}',
        "{cue} {ref} has a big dent and won't close properly.",
        'The speaker from {ref} crackles and cuts out, it must be defective.{cue}',
        'Half of the glasses in {ref} were broken on arrival.{cue}',
        'The TV in {ref} arrived with a cracked panel.{cue}',
        '{cue} Unboxed {ref} and found the cable frayed and the charger dead.',
        'My drone from {ref} has a broken propeller out of the box.{cue}',
        'The paint on {ref} is chipped all over and one panel is warped.{cue}',
        "{ref} doesn't charge at all, the unit is faulty.{cue}",
        '{cue} The tent in {ref} arrived with a torn seam and a snapped pole.',
        'The mirror in {ref} came cracked in two places.{cue}',
        '{ref} arrived wet and the book pages are ruined.{cue}',
        'The zip on the bag from {ref} is broken and the strap is torn.{cue}',
        "{cue} The camera in {ref} has a scratched lens and won't focus.",
        'The cooker from {ref} arrived with a smashed glass door.{cue}',
        "The phone in {ref} is defective, the touchscreen doesn't respond.{cue}",
        "{cue} {ref} was delivered with a hole in the side of the box and the item inside is dented.",
        "The screen on the tablet from {ref} flickers constantly, it's faulty.{cue}",
        "Every dish in {ref} was in bits when I unwrapped it.{cue}",
        "{cue} Unpacked {ref} and the wooden table top is split down the middle.",
        "my new jeans from {ref} have a big rip on the knee, came like that{cue}",
        "The hair dryer in {ref} smells of burning and stops after a minute.{cue}",
        "{cue} The perfume bottle from {ref} has a cracked cap and half of it has seeped out.",
        "The washing machine from {ref} arrived with a dented door that won't seal.{cue}",
        "When I opened {ref}, the lamp shade was crushed flat.{cue}",
        "{cue} The controller in {ref} has sticky buttons and a loose joystick, it is defective.",
        "{ref} reached me in terrible condition: the case is cracked and it rattles inside.{cue}",
        "The ceramic bowl in {ref} had a big chip out of the rim on arrival.{cue}",
        "{cue} The monitor from {ref} shows only a black screen even though the power light is on.",
        "The bed frame in {ref} came with a cracked slat and bent screws.{cue}",
        "Hello, the product of {ref} is arrive broken, glass is all in pieces.{cue}",
        "{cue} Big stain across the rug I got in {ref}, and the edges are fraying.",
        "My vacuum from {ref} makes a grinding noise and won't suck anything, it's faulty.{cue}",
        "The jar in {ref} was smashed and the jam went everywhere.{cue}",
        "{cue} Cracked neck on the guitar that came in {ref}, it can't be played.",
        "The stitching on the boots in {ref} came apart the first time I wore them.{cue}",
        "The electric toothbrush from {ref} won't hold a charge, defective unit.{cue}",
        "{cue} The box of {ref} was squashed and several puzzle pieces inside are torn.",
        "I found {ref} on my doorstep with the packaging soaked through and the contents water-damaged.{cue}",
        "The wheels on the suitcase from {ref} are snapped off.{cue}",
        "{cue} {ref} arrived and the fridge has a huge dent in the side.",
        "The microwave in {ref} turns on but doesn't heat, so it's faulty.{cue}",
        "Out of the four chairs in {ref}, two have seats that split in transit.{cue}",
        "{cue} The candles in {ref} arrived melted and misshapen.",
        "The smartwatch from {ref} has a cracked strap and the display won't light up.{cue}",
        "Sadly {ref} didn't survive the journey - the glass top is shattered.{cue}",
    ],
    "billing_issue": [
        "I was charged twice for {ref}.{cue}",
        "The invoice for {ref} shows the wrong amount.{cue}",
        "{cue} Why did my card get billed again for {ref}?",
        "There's an extra fee on {ref} I never agreed to.{cue}",
        "The discount code wasn't applied to {ref}, I paid full price.{cue}",
        "My bank shows two payments for {ref}.{cue}",
        "{cue} I need a corrected invoice for {ref}.",
        "You charged me the wrong VAT on {ref}.{cue}",
        "I see a duplicate charge for {ref} on my statement.{cue}",
        "{cue} The amount billed for {ref} doesn't match the checkout price.",
        "My credit card was charged for {ref} even though I paid with a voucher.{cue}",
        "Please fix the invoice for {ref}, the company name is wrong.{cue}",
        "I was overcharged on {ref} by 20 euros.{cue}",
        "{cue} There are two identical charges for {ref}.",
        "The shipping fee on {ref} was billed twice.{cue}",
        "Why was I charged sales tax on {ref}? I'm exempt.{cue}",
        "I need a proper invoice with my VAT number for {ref}.{cue}",
        "{cue} My statement shows a charge for {ref} that I don't recognise.",
        "The payment for {ref} went through twice.{cue}",
        "You billed me for {ref} at the old price.{cue}",
        "My invoice for {ref} lists items I never ordered.{cue}",
        "{cue} I got charged more than the quoted price for {ref}.",
        "The refund for {ref} was credited but then charged again.{cue}",
        "Please check the billing on {ref}, the total is wrong.{cue}",
        "I was charged a late fee on {ref} for no reason.{cue}",
        "{cue} The billing address on the invoice for {ref} is incorrect.",
        "I paid for {ref} and was charged a second time a day later.{cue}",
        "The coupon on {ref} was removed from my bill.{cue}",
        "There's a currency conversion fee on {ref} I wasn't told about.{cue}",
        "{cue} Billing error on {ref}, please correct it.",
        'Hi, my statement has {ref} charged at twice the listed price.{cue}',
        '{cue} You took money for {ref} two times, please sort the charge out.',
        'why was i charged twice for {ref}{cue}',
        "The invoice for {ref} is missing my company's VAT number.{cue}",
        'I got billed for express shipping on {ref} but chose standard.{cue}',
        "{cue} There's a charge on my card for {ref} that is higher than my receipt.",
        'Your system debited my account twice for {ref}.{cue}',
        'Could you send a corrected invoice for {ref}? The amounts are wrong.{cue}',
        'I was charged the full price for {ref} even though it was on sale.{cue}',
        "{cue} The total on the invoice for {ref} doesn't add up.",
        'I see a pending charge and a final charge for {ref}, which is one too many.{cue}',
        "My gift card balance wasn't used on {ref} and my card was charged instead.{cue}",
        'The tax on the invoice for {ref} is calculated wrong.{cue}',
        '{cue} Please explain the extra charge on {ref}.',
        'I was billed in dollars for {ref} instead of euros.{cue}',
        'The payment for {ref} was taken twice from my PayPal.{cue}',
        'The receipt for {ref} shows a price I never agreed to.{cue}',
        '{cue} I think there is a billing mistake on {ref}, the card charge is too high.',
        'The promo discount disappeared from the invoice for {ref}.{cue}',
        'Can you check the charges on {ref}? I was billed an unexpected handling fee.{cue}',
        "{cue} My card statement lists {ref} three times but I only bought it once.",
        "The invoice for {ref} has my name spelled wrong, can you reissue it?{cue}",
        "I was charged 89.99 for {ref} but the website said 59.99.{cue}",
        "{cue} Please send me an invoice for {ref}; the one I got is blank.",
        "there's 2 charges for {ref} on my account, whats going on{cue}",
        "Your checkout showed free delivery for {ref}, yet I was charged for shipping.{cue}",
        "{cue} The invoice for {ref} is dated wrong and my accountant won't accept it.",
        "I was billed for three units on {ref} but only ordered one.{cue}",
        "My loyalty points weren't deducted correctly and I paid too much for {ref}.{cue}",
        "{cue} A subscription fee appeared alongside {ref} that I never signed up for.",
        "The checkout failed for {ref} so I paid again, but both payments went through.{cue}",
        "Can I get an itemised invoice for {ref}? The one attached only shows a total.{cue}",
        "{cue} The price on my invoice for {ref} includes VAT twice.",
        "My company needs the invoice for {ref} addressed to the business, not to me personally.{cue}",
        "Hi, i have been charge wrong amount for {ref}, more than the price in the cart.{cue}",
        "{cue} An instalment for {ref} was taken even though I paid in full upfront.",
        "I was charged for gift wrapping on {ref}, which I didn't select.{cue}",
        "The invoice number on {ref} is the same as another order's, please correct it.{cue}",
        "{cue} My card was debited for {ref} before I even confirmed the payment.",
        "Could you look into the charges for {ref}? The sum on my statement is off by 12 pounds.{cue}",
        "My invoice for {ref} hasn't arrived and I need it for my expenses claim.{cue}",
        "{cue} The student discount should have applied to {ref}, but I was billed the regular price.",
        "I was charged for {ref} on both my Visa and my Mastercard.{cue}",
        "The bill for {ref} includes an insurance add-on I declined.{cue}",
        "{cue} Why does the invoice for {ref} show a higher total than my order confirmation?",
        "You've charged me a monthly fee since {ref}, but it was a one-off purchase.{cue}",
        "I was charged the price of {ref} plus an extra 5 euros with no explanation on the invoice.{cue}",
        "{cue} The price-match you promised for {ref} never showed up on my bill.",
        "Please check my account: the charge for {ref} was taken from my card although I chose cash on delivery.{cue}",
        "My receipt for {ref} says one amount and my bank says another.{cue}",
    ],
}

REF_FORMATS = ("order {id}", "order #{id}", "#{id}", "{id}", "my order {id}", "order number {id}", "purchase {id}")
NO_REF = ("my order", "my last order", "the order", "my purchase", "what I bought")
CUES = {
    "high": (" This is urgent!", " I need this sorted today.", " Please hurry, it's urgent.", " ASAP please.",
             " I need an answer right now.", " URGENT."),
    "low": (" No rush.", " Whenever you get a chance.", " Not urgent, just wondering.", " No hurry at all.",
            " Take your time."),
    "medium": ("", " Thanks.", " Thank you.", " Let me know.", " Cheers."),
}
GREETINGS = ("", "", "Hi, ", "Hello, ", "Hey there. ", "Good morning, ", "Dear support, ")
SIGNOFFS = ("", "", " - Sam", " Regards, Priya", " Best, Jordan", " Thanks, Alex")


def split_frames(seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """(intent, frame) lists per split: of each intent's frames, 60% train, 20% calibration, 20% test
    (48 / 16 / 16 of 80)."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[str, str]]] = {"train": [], "calibration": [], "test": []}
    for intent, frames in FRAMES.items():
        frames = frames[:]
        rng.shuffle(frames)
        n_cal = n_test = max(1, len(frames) // 5)
        n_train = len(frames) - n_cal - n_test
        out["train"] += [(intent, f) for f in frames[:n_train]]
        out["calibration"] += [(intent, f) for f in frames[n_train:n_train + n_cal]]
        out["test"] += [(intent, f) for f in frames[n_train + n_cal:]]
    return out


def order_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=2)) + "".join(rng.choices(string.digits, k=6))


def render(intent: str, frame: str, rng: random.Random) -> tuple[str, dict]:
    """One message and its exact label."""
    urgency = rng.choice(URGENCIES)
    if rng.random() < 0.8:
        oid = order_id(rng)
        ref = rng.choice(REF_FORMATS).format(id=oid)
    else:
        oid, ref = None, rng.choice(NO_REF)
    cue = rng.choice(CUES[urgency]).strip() if frame.startswith("{cue}") else rng.choice(CUES[urgency])
    text = frame.format(ref=ref, cue=cue).strip()
    text = text[0].upper() + text[1:]
    text = (rng.choice(GREETINGS) + text + rng.choice(SIGNOFFS)).strip()
    if rng.random() < 0.15:
        text = text.lower().replace(oid.lower(), oid) if oid else text.lower()
    return text, {"intent": intent, "order_id": oid, "urgency": urgency}


def answer_text(label: dict) -> str:
    """The target as the model writes it: compact JSON, fields in schema order."""
    return json.dumps({"intent": label["intent"], "order_id": label["order_id"], "urgency": label["urgency"]})


def make_split(frames: list[tuple[str, str]], n: int, seed: int) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        intent, frame = frames[i % len(frames)]
        rows.append(render(intent, frame, rng))
    rng.shuffle(rows)
    return rows


def dataset(n_train: int = 1200, n_cal: int = 300, n_test: int = 300, seed: int = 0) -> dict[str, list[tuple[str, dict]]]:
    frames = split_frames(seed)
    return {"train": make_split(frames["train"], n_train, seed + 1),
            "calibration": make_split(frames["calibration"], n_cal, seed + 2),
            "test": make_split(frames["test"], n_test, seed + 3)}


def exact(prediction: str, label: dict) -> tuple[bool, bool]:
    """(whole JSON equal to the label, valid against SCHEMA)."""
    try:
        obj = json.loads(prediction)
    except (json.JSONDecodeError, TypeError):
        return False, False
    valid = (isinstance(obj, dict) and set(obj) == {"intent", "order_id", "urgency"} and obj.get("intent") in INTENTS
             and obj.get("urgency") in URGENCIES and (obj.get("order_id") is None or (isinstance(obj["order_id"], str)
             and len(obj["order_id"]) == 8 and obj["order_id"][:2].isalpha() and obj["order_id"][:2].isupper() and obj["order_id"][2:].isdigit())))
    return obj == label, valid
