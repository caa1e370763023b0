"""Reference data for the demo fleet: Barcelona districts, streets and names of that generation."""
from __future__ import annotations

# (district, postal codes, centre lat, centre long, streets). Centres are approximate district centroids.
DISTRICTS: tuple[tuple[str, tuple[str, ...], float, float, tuple[str, ...]], ...] = (
    ("Ciutat Vella", ("08001", "08002", "08003"), 41.3809, 2.1773,
     ("Carrer de l'Hospital", "Carrer de la Princesa", "Carrer de Sant Pau", "Carrer dels Escudellers")),
    ("Eixample", ("08008", "08009", "08011", "08013", "08015", "08036", "08037"), 41.3888, 2.1617,
     ("Carrer de Mallorca", "Carrer d'Aragó", "Carrer del Consell de Cent", "Carrer de Provença",
      "Carrer de Girona", "Carrer de Villarroel")),
    ("Sants-Montjuïc", ("08004", "08014", "08028"), 41.3730, 2.1420,
     ("Carrer de Sants", "Carrer de la Creu Coberta", "Carrer de Blai", "Carrer de Vallespir")),
    ("Les Corts", ("08028", "08029"), 41.3850, 2.1300,
     ("Travessera de les Corts", "Carrer de Numància", "Carrer de Joan Güell")),
    ("Sarrià-Sant Gervasi", ("08017", "08021", "08022", "08034"), 41.4010, 2.1370,
     ("Carrer Major de Sarrià", "Via Augusta", "Carrer de Muntaner", "Carrer de Ganduxer")),
    ("Gràcia", ("08012", "08024"), 41.4036, 2.1563,
     ("Carrer Gran de Gràcia", "Carrer de Verdi", "Travessera de Gràcia", "Carrer de Torrijos")),
    ("Horta-Guinardó", ("08024", "08031", "08032", "08041"), 41.4180, 2.1670,
     ("Carrer d'Horta", "Passeig de Maragall", "Carrer de Cartagena", "Carrer de Lisboa")),
    ("Nou Barris", ("08016", "08031", "08033", "08042"), 41.4410, 2.1770,
     ("Via Júlia", "Passeig de Fabra i Puig", "Carrer de Pablo Iglesias", "Carrer de Cadí")),
    ("Sant Andreu", ("08027", "08030"), 41.4350, 2.1900,
     ("Carrer Gran de Sant Andreu", "Carrer del Segre", "Carrer de Felip II", "Passeig de Torras i Bages")),
    ("Sant Martí", ("08005", "08018", "08019", "08020"), 41.4040, 2.1990,
     ("Rambla del Poblenou", "Carrer de Pujades", "Carrer de Pere IV", "Carrer de Bac de Roda")),
)

FEMALE = ("Montserrat", "Maria", "Carme", "Dolors", "Josefa", "Teresa", "Rosa", "Mercè", "Núria", "Pilar",
          "Concepció", "Antònia", "Francesca", "Isabel", "Ana", "Encarnación", "Remedios", "Rosario",
          "Mercedes", "Eulàlia", "Roser", "Assumpció")
MALE = ("Josep", "Joan", "Antoni", "Francesc", "Jordi", "Manuel", "Jaume", "Pere", "Ramon", "Lluís", "José",
        "Antonio", "Francisco", "Miguel", "Enric", "Salvador")
SURNAMES = ("Garcia", "Martínez", "López", "Sánchez", "Puig", "Vila", "Soler", "Ferrer", "Serra", "Font",
            "Roca", "Pujol", "Casas", "Vidal", "Sala", "Mas", "Costa", "Bosch", "Torres", "Fernández",
            "Rodríguez", "Pérez", "Gómez", "Ruiz", "Navarro", "Moreno", "Jiménez", "Romero", "Ribas", "Prat",
            "Camps", "Valls", "Riera", "Castells")
YOUNGER = ("Laura", "Marta", "Anna", "Sílvia", "Cristina", "Elena", "Núria", "Jordi", "David", "Marc",
           "Xavier", "Sergi", "Albert", "Raquel", "Òscar", "Carles")
RELATIONS = (("filla", True), ("fill", True), ("neboda", True), ("nebot", False), ("veïna", True),
             ("veí", False), ("germana", False), ("nét", False))
CALLERS = ("Aina", "Bernat", "Clara", "Dídac", "Emma", "Gerard", "Irene", "Pau")
DOSE_SCHEDULES = (("09:00",), ("09:00", "21:00"), ("09:00", "14:00", "21:00"), ("08:30", "20:30"),
                  ("08:00", "14:00", "20:00"))
# (flag, probability): shares of Barcelona's teleassistance users, roughly.
RISK_SHARES = (("lives_alone", 0.40), ("heat_vulnerable", 0.30), ("cold_vulnerable", 0.10),
               ("dementia", 0.08), ("hearing_impaired", 0.15), ("reduced_mobility", 0.25),
               ("recent_discharge", 0.05))
# Device id prefixes per type, and the set every home gets.
PREFIX = {"gateway": "gw", "pendant": "pd", "fall_sensor": "fs", "bed_sensor": "bs",
          "medication_dispenser": "md", "motion_sensor": "ms"}
